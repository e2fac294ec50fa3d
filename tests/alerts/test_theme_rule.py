"""The ``emerging_theme`` rule: one alert for a theme whose complaints rise, none for flat ones."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from alerts.engine import AlertEngine
from alerts.messages import render, validate_message
from config.alerting import AlertRuleConfig
from goodwill.models import utcnow
from scoring.themes import encode
from store import Database, ThemeWrite
from tests.factories import mention, sentiment

DASH = "http://goodwill.test"


async def _complaints(store: Database, ages: list[timedelta], text: str) -> list[object]:
    """Complaints created ``ages`` ago, scored as the scorer would (negative, a complaint)."""
    posts = [mention(f"{text} {i}", age=age) for i, age in enumerate(ages)]
    await store.mentions.upsert(posts)
    claim = await store.queue.claim("test", limit=10_000, lease=timedelta(minutes=5))
    verdict = {"is_complaint": True, "score": 0.9, "category": "billing_refund_pricing"}
    await store.queue.save(
        claim,
        {doc["_id"]: sentiment("negative") for doc in claim.mentions},
        {doc["_id"]: dict(verdict) for doc in claim.mentions},
    )
    return [doc["_id"] for doc in claim.mentions]


def _theme(name: str, axis: int, members: list[object]) -> ThemeWrite:
    centroid = encode(np.eye(1, 384, axis, dtype=np.float32)[0])
    return ThemeWrite(None, name, name.split(" · "), centroid, 0.7, members, members[:3])


async def test_a_rising_theme_raises_once_and_a_flat_one_never(store: Database) -> None:
    """14 quiet days then 12 complaints in a day: one alert naming the theme; steady 2 a day: none."""
    day = timedelta(days=1)
    rising = await _complaints(
        store,
        [day * d + timedelta(hours=2) for d in range(1, 15)]
        + [timedelta(hours=1, minutes=i) for i in range(12)],
        "charged twice no refund",
    )
    flat = await _complaints(
        store,
        [day * d + timedelta(hours=h) for d in range(15) for h in (3, 9)],
        "app crashes at login",
    )
    await store.themes.save_clustering(
        "Acme", [_theme("refund · charged twice", 0, rising), _theme("app · login", 1, flat)]
    )
    rule = AlertRuleConfig(rule="emerging_theme", destination="ops", top=2)
    engine = AlertEngine(
        store.outbox, [rule], brands=["Acme"], dashboard_link=DASH, themes=store.themes
    )
    now = utcnow()
    assert await engine.run_once(now) == 1
    [alert] = await store.outbox.recent(limit=10)
    assert alert["dedupe_key"] == f"theme:Acme:T1:{now.date().isoformat()}:emerging_theme"
    payload = alert["payload"]
    assert (payload["name"], payload["count"], payload["expected"]) == (
        "refund · charged twice",
        12,
        1.0,
    )
    assert len(payload["top_posts"]) == 2
    assert all(post["text"].startswith("charged twice no refund") for post in payload["top_posts"])
    assert "Emerging theme for Acme" in payload["summary"]
    assert validate_message(render(payload)) == []
    # The next pass, and a restarted engine, raise nothing more for the same spike.
    assert await engine.run_once(now + timedelta(minutes=5)) == 0
    again = AlertEngine(
        store.outbox, [rule], brands=["Acme"], dashboard_link=DASH, themes=store.themes
    )
    assert await again.run_once(now + timedelta(minutes=10)) == 0


async def test_a_brand_collected_only_today_raises_no_theme(store: Database) -> None:
    """Without min_history_days of themed complaints, everything is new: nothing is raised."""
    today = await _complaints(store, [timedelta(minutes=i) for i in range(20)], "refund")
    await store.themes.save_clustering("Acme", [_theme("refund", 0, today)])
    rule = AlertRuleConfig(rule="emerging_theme", destination="ops")
    engine = AlertEngine(
        store.outbox, [rule], brands=["Acme"], dashboard_link=DASH, themes=store.themes
    )
    assert await engine.run_once() == 0


def test_the_rule_takes_the_spike_tests_keys_only() -> None:
    """``emerging_theme`` takes alpha, min_count, baseline_days, min_history_days and top."""
    rule = AlertRuleConfig(rule="emerging_theme", destination="ops", alpha=0.01, min_count=3)
    assert (rule.alpha, rule.min_count, rule.name) == (0.01, 3, "emerging_theme")
    with pytest.raises(ValueError, match="takes no key 'min_value'"):
        AlertRuleConfig(rule="emerging_theme", destination="ops", min_value=3)


async def test_the_digest_lists_the_days_top_themes(store: Database) -> None:
    """Yesterday's themes with posts that day, most first, with the day before for the trend."""
    now = utcnow()
    yesterday = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    ages = [now - (yesterday + timedelta(hours=h)) for h in (1, 2, 3)]
    big = await _complaints(store, ages, "charged twice")
    small = await _complaints(store, ages[:1], "app crashes")
    await store.themes.save_clustering(
        "Acme", [_theme("refund · charged", 0, big), _theme("app · login", 1, small)]
    )
    digest = AlertRuleConfig(rule="digest", destination="ops", at="00:00")
    engine = AlertEngine(
        store.outbox, [digest], brands=["Acme"], dashboard_link=DASH, themes=store.themes
    )
    assert await engine.run_once(now) == 1
    [alert] = await store.outbox.recent(limit=10)
    themes = alert["payload"]["top_themes"]
    assert [(t["name"], t["count"], t["previous"]) for t in themes] == [
        ("refund · charged", 3, 0),
        ("app · login", 1, 0),
    ]
    assert validate_message(render(alert["payload"])) == []
    assert "Top complaint themes" in str(render(alert["payload"]))
