"""Tail probabilities of counts, for the negative-spike rule: Poisson and negative binomial.

Written with ``math`` alone (scipy is not a dependency), after Numerical Recipes'
regularized incomplete gamma and beta functions:

* Poisson: ``P(X >= k | mu) = P(k, mu)``, the regularized lower incomplete gamma;
* negative binomial with mean ``mu`` and variance ``var > mu`` (``r = mu^2 / (var - mu)``,
  ``p = r / (r + mu)``): ``P(X >= k) = I_{1-p}(k, r)``, the regularized incomplete beta.

Both cost a few dozen iterations whatever the count, so a brand with 200 negative posts
an hour costs what a brand with 2 does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Baseline", "baseline_of", "combined", "negbin_sf", "poisson_sf"]

_EPS = 1e-15
_TINY = 1e-300
_ITERATIONS = 500


def _gamma_series(a: float, x: float) -> float:
    """Regularized lower incomplete gamma P(a, x) by its series (x < a + 1)."""
    term = total = 1.0 / a
    denominator = a
    for _ in range(_ITERATIONS):
        denominator += 1.0
        term *= x / denominator
        total += term
        if abs(term) < abs(total) * _EPS:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _gamma_fraction(a: float, x: float) -> float:
    """Regularized upper incomplete gamma Q(a, x) by its continued fraction (x >= a + 1)."""
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, _ITERATIONS):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = _TINY if abs(d) < _TINY else d
        c = b + an / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def poisson_sf(k: int, mu: float) -> float:
    """``P(X >= k)`` for ``X ~ Poisson(mu)``: the chance of ``k`` or more when ``mu`` is expected."""
    if k <= 0:
        return 1.0
    if mu <= 0:
        return 0.0
    a = float(k)
    if mu < a + 1.0:
        return min(1.0, max(0.0, _gamma_series(a, mu)))
    return min(1.0, max(0.0, 1.0 - _gamma_fraction(a, mu)))


def _beta_fraction(a: float, b: float, x: float) -> float:
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = _TINY if abs(d) < _TINY else d
    d = 1.0 / d
    h = d
    for m in range(1, _ITERATIONS):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = _TINY if abs(d) < _TINY else d
        c = 1.0 + aa / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = _TINY if abs(d) < _TINY else d
        c = 1.0 + aa / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return h


def _beta_inc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta ``I_x(a, b)``."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b


def negbin_sf(k: int, mu: float, var: float) -> float:
    """``P(X >= k)`` for a negative binomial of mean ``mu`` and variance ``var``.

    With ``var <= mu`` (no overdispersion) this is the Poisson tail.
    """
    if k <= 0:
        return 1.0
    if mu <= 0:
        return 0.0
    if var <= mu * (1.0 + 1e-9):
        return poisson_sf(k, mu)
    r = mu * mu / (var - mu)
    p = r / (r + mu)
    return min(1.0, max(0.0, _beta_inc(float(k), r, 1.0 - p)))


@dataclass(frozen=True)
class Baseline:
    """What one hour is expected to hold: mean, variance, and how many past hours say so."""

    mean: float
    var: float
    samples: int

    def tail(self, count: int, hours: int = 1) -> float:
        """``P(X >= count)`` over ``hours`` such hours: negative binomial when overdispersed."""
        mu = self.mean * hours
        if self.overdispersed:
            return negbin_sf(count, mu, self.var * hours)
        return poisson_sf(count, mu)

    @property
    def overdispersed(self) -> bool:
        """The past hours vary clearly more than a Poisson count would."""
        return self.samples >= 5 and self.var > 1.5 * self.mean


def baseline_of(counts: Sequence[int], *, prior: float = 0.5) -> Baseline:
    """The baseline of an hour from the counts of its seasonal peers (same hour on past days).

    ``prior`` pseudo-counts keep an all-zero history from expecting exactly nothing.
    """
    n = len(counts)
    if n == 0:
        return Baseline(prior, prior, 0)
    mean = (sum(counts) + prior) / n
    var = sum((c - mean) ** 2 for c in counts) / (n - 1) if n > 1 else mean
    return Baseline(mean, max(var, mean), n)


def combined(baselines: Sequence[Baseline]) -> Baseline:
    """The baseline of several hours together (independent counts: means and variances add)."""
    if not baselines:
        return Baseline(0.0, 0.0, 0)
    return Baseline(
        sum(b.mean for b in baselines),
        sum(b.var for b in baselines),
        min(b.samples for b in baselines),
    )
