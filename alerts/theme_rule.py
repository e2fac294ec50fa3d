"""The ``emerging_theme`` rule: a complaint theme whose last 24 hours stand out from its own past.

For each active theme of a brand (``store/themes.py``), its complaints in the last 24
hours are tested against its complaints in each of the ``baseline_days`` 24-hour periods
before (``alerts/stats.py``: Poisson, or negative binomial when the past days vary more),
the same count-aware test as ``negative_spike``. A theme raises when it holds at least
``min_count`` complaints, its tail probability is under ``alpha``, and the brand has themed
complaints at least ``min_history_days`` old (so a brand collected only today raises
nothing: everything is new to it). A theme first found today has zeros for a past: it
raises as soon as it holds enough complaints to be unlikely under the prior.

One alert per theme and UTC day: key ``theme:<brand>:<theme id>:<date>:<rule>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from alerts.stats import baseline_of
from config.alerting import AlertRuleConfig
from store.themes import Themes

__all__ = ["EmergingTheme", "emerging_themes"]

_DAY = timedelta(days=1)


@dataclass(frozen=True)
class EmergingTheme:
    """A theme judged anomalous now: its alert's key and payload."""

    key: str
    payload: dict[str, Any]


async def emerging_themes(
    themes: Themes,
    rule: AlertRuleConfig,
    brand: str,
    now: datetime,
    *,
    dashboard_link: str,
) -> list[EmergingTheme]:
    """The brand's themes whose last 24 hours of complaints are anomalous under ``rule``."""
    active = await themes.active(brand)
    if not active:
        return []
    start = now - _DAY * (rule.baseline_days + 1)
    complaints = await themes.themed_complaints(brand, start, now)
    if not complaints:
        return []
    oldest = min(doc["created_at"] for doc in complaints)
    if oldest > now - _DAY * rule.min_history_days:
        return []  # too little history to know what is normal
    days: dict[str, list[int]] = {}
    for doc in complaints:
        age = int((now - doc["created_at"]) / _DAY)
        if 0 <= age <= rule.baseline_days:
            days.setdefault(doc["theme_id"], [0] * (rule.baseline_days + 1))[age] += 1
    found = []
    for theme in active:
        counts = days.get(theme["theme_id"])
        if counts is None or counts[0] < rule.min_count:
            continue
        baseline = baseline_of(counts[1:])
        p_value = baseline.tail(counts[0])
        if p_value >= rule.alpha:
            continue
        posts = await themes.complaints_of(brand, theme["theme_id"], now - _DAY, now, limit=200)
        found.append(
            EmergingTheme(
                key=f"theme:{brand}:{theme['theme_id']}:{now.date().isoformat()}:{rule.name}",
                payload=_payload(
                    brand,
                    theme,
                    counts,
                    p_value,
                    baseline.overdispersed,
                    posts,
                    rule,
                    dashboard_link,
                ),
            )
        )
    return found


def _payload(
    brand: str,
    theme: dict[str, Any],
    counts: Sequence[int],
    p_value: float,
    overdispersed: bool,
    posts: list[dict[str, Any]],
    rule: AlertRuleConfig,
    link: str,
) -> dict[str, Any]:
    past = list(counts[1:])
    expected = sum(past) / len(past) if past else 0.0
    ranked = sorted(posts, key=lambda d: -float((d.get("complaint") or {}).get("score") or 0))
    return {
        "kind": "emerging_theme",
        "brand": brand,
        "theme_id": theme["theme_id"],
        "name": theme.get("name") or "",
        "phrases": list(theme.get("phrases") or []),
        "count": counts[0],
        "expected": round(expected, 2),
        "past_days": past,
        "p_value": p_value,
        "model": "negative binomial" if overdispersed else "Poisson",
        "baseline": f"complaints per day over {len(past)} past days",
        "top_posts": [
            {
                "mention_id": str(d["_id"]),
                "text": (d.get("text") or "")[:500],
                "url": d.get("url") or "",
                "score": float((d.get("complaint") or {}).get("score") or 0),
                "category": (d.get("complaint") or {}).get("category"),
                "dashboard_url": f"{link}/?mention={d['_id']}",
            }
            for d in ranked[: rule.top]
        ],
        "dashboard_url": f"{link}/?brand={quote(brand)}&theme={quote(str(theme['theme_id']))}",
        "summary": f"Emerging theme for {brand}: \u201c{theme.get('name') or theme['theme_id']}\u201d, "
        f"{counts[0]} complaints in 24 h against {expected:.1f} a day before",
    }
