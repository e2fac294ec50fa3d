"""The alert engine over a real database: each rule fires when it should, once, and not otherwise."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from alerts.engine import AlertEngine
from alerts.messages import render
from collector.base import Target
from collector.sources.replay import ReplaySource
from config.settings import Settings
from config.watchlist import default_watchlist
from store import Database
from store.outbox import Outbox
from tests.alerts.conftest import add_profile, negatives, rule, scored
from tests.factories import mention, sentiment

DASH = "http://goodwill.test"
ZERO = timedelta(0)


def engine(alerts: Outbox, *rules, brands=("Acme", "Tiny", "Huge")) -> AlertEngine:
    return AlertEngine(alerts, list(rules), brands=list(brands), dashboard_link=DASH)


async def keys(alerts: Outbox) -> list[str]:
    return sorted(doc["dedupe_key"] for doc in await alerts.recent(limit=1000))


async def test_complaint_rule_fires_on_value_tier_or_reach_and_not_otherwise(
    store: Database, alert_store: Outbox
) -> None:
    """A complaint alerts when its profile's value, CRM tier or reach (or followers) qualifies."""
    await add_profile(store, "p_rich", value=50_000)
    await add_profile(store, "p_ent", tier="Enterprise")
    await add_profile(store, "p_loud", reach=90_000)
    await add_profile(store, "p_small", value=10, tier="free", reach=3)
    rich = await scored(store, profile_id="p_rich")
    ent = await scored(store, profile_id="p_ent")
    loud = await scored(store, profile_id="p_loud")
    famous = await scored(store, followers=200_000)  # no profile yet: the author's followers
    await scored(store, profile_id="p_small")
    await scored(store, followers=10)
    await scored(store, "Love it", label="positive", complaint=False, profile_id="p_rich")
    vip = rule(rule="complaint", name="vip", min_value=1000, tiers=["enterprise"], min_reach=50_000)

    raised = await engine(alert_store, vip).run_once()

    assert raised == 4
    assert await keys(alert_store) == sorted(
        f"complaint:{i}:vip" for i in (rich, ent, loud, famous)
    )
    doc = next(d for d in await alert_store.recent() if str(rich) in d["dedupe_key"])
    assert (
        doc["payload"]["who"]["value"] == 50_000
        and doc["payload"]["who"]["name"] == "Dana Customer"
    )
    assert doc["payload"]["dashboard_url"] == f"{DASH}/?mention={rich}"
    assert doc["state"] == "pending" and doc["destination"] == "slack"


async def test_complaint_rule_without_thresholds_takes_every_complaint_of_its_brands(
    store: Database, alert_store: Outbox
) -> None:
    """No threshold: every complaint; ``brands`` limits which brands."""
    await scored(store, brand="Acme")
    await scored(store, brand="Tiny")
    assert await engine(alert_store, rule(rule="complaint", brands=["tiny"])).run_once() == 1
    assert (await alert_store.recent())[0]["brand"] == "Tiny"


async def test_a_restarted_engine_raises_nothing_twice_and_misses_nothing(
    store: Database, alert_store: Outbox
) -> None:
    """Its cursor lives in MongoDB: a new engine on the same database takes up where it stopped."""
    every = rule(rule="complaint")
    first = await scored(store)
    assert await engine(alert_store, every).run_once() == 1
    second = await scored(store)  # scored while the engine was down
    restarted = engine(store.outbox, every)
    assert await restarted.run_once() == 1
    assert await restarted.run_once() == 0
    assert await engine(store.outbox, every).run_once() == 0
    assert await keys(alert_store) == sorted(f"complaint:{i}:complaint" for i in (first, second))
    assert await alert_store.get_state("cursor:complaints") is not None


async def test_alerts_are_raised_in_the_order_mentions_were_scored(
    store: Database, alert_store: Outbox
) -> None:
    """The outbox holds complaints in scoring order, so the queue delivers them in that order."""
    ids = [await scored(store, f"complaint {i} about Acme") for i in range(5)]
    await engine(alert_store, rule(rule="complaint")).run_once()
    docs = sorted(await alert_store.recent(), key=lambda d: (d["created_at"], d["_id"]))
    assert [d["payload"]["mention_id"] for d in docs] == [str(i) for i in ids]


async def test_tier_change_alerts_new_advocates_and_detractors_once(
    store: Database, alert_store: Outbox
) -> None:
    """A profile crossing into advocate or detractor alerts once per change; neutral does not."""
    await add_profile(store, "p_fan", name="Fan", value=100)
    now = datetime.now(UTC)
    advocacy = store.collection("advocacy")
    base = {"score": 30.0, "mentions": 4, "previous_tier": "neutral", "updated_at": now}
    await advocacy.insert_many(
        [
            {"_id": "p_fan|Acme", "profile_id": "p_fan", "brand": "Acme", "tier": "advocate",
             "tier_changed_at": now - timedelta(minutes=1), **base},
            {"_id": "p_x|Acme", "profile_id": "p_x", "brand": "Acme", "tier": "detractor",
             "tier_changed_at": now - timedelta(minutes=1), **{**base, "score": -40.0}},
            {"_id": "p_y|Acme", "profile_id": "p_y", "brand": "Acme", "tier": "neutral",
             "tier_changed_at": now - timedelta(minutes=1), **{**base, "previous_tier": "advocate"}},
            {"_id": "p_old|Acme", "profile_id": "p_old", "brand": "Acme", "tier": "advocate",
             "tier_changed_at": now - timedelta(days=3), **base},
        ]
    )  # fmt: skip
    tiers = rule(rule="tier_change")
    assert await engine(alert_store, tiers).run_once() == 2
    assert await engine(store.outbox, tiers).run_once() == 0
    fan = next(d for d in await alert_store.recent() if "p_fan" in d["dedupe_key"])
    assert fan["payload"]["who"]["name"] == "Fan" and fan["payload"]["tier"] == "advocate"
    # The fan drops to detractor later: a new change, a new alert.
    await advocacy.update_one(
        {"_id": "p_fan|Acme"},
        {
            "$set": {
                "tier": "detractor",
                "previous_tier": "advocate",
                "tier_changed_at": datetime.now(UTC),
            }
        },
    )
    assert await engine(alert_store, tiers).run_once() == 1


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


async def _history(
    store: Database, brand: str, hour: datetime, per_day: list[int], back: int = 0
) -> None:
    """Negative counts at ``hour - back h`` on each past day (day 1 first)."""
    for day, count in enumerate(per_day, start=1):
        await negatives(store, brand, hour - timedelta(days=day, hours=back), count)


async def test_small_brand_spike_fires_but_two_posts_at_3am_do_not(
    store: Database, alert_store: Outbox
) -> None:
    """Baseline 0.5/h: 8 negative posts in an hour is a spike; 2 is not (minimum volume)."""
    now = _hour(datetime.now(UTC)) + timedelta(minutes=40)
    hour = _hour(now)
    await _history(store, "Tiny", hour, [0, 1] * 7)
    await negatives(store, "Tiny", hour, 2)
    spike = rule(rule="negative_spike", windows=[1])
    assert await engine(alert_store, spike, brands=["Tiny"]).run_once(now) == 0
    await negatives(store, "Tiny", hour, 6)
    assert await engine(alert_store, spike, brands=["Tiny"]).run_once(now) == 1
    (doc,) = await alert_store.recent()
    assert doc["dedupe_key"] == f"spike:Tiny:{hour:%Y-%m-%dT%H:%M:%SZ}:negative_spike"
    payload = doc["payload"]
    assert payload["count"] == 8 and 0.4 < payload["expected"] < 0.7
    assert 1 <= len(payload["top_posts"]) <= 5 and payload["top_posts"][0]["score"] >= 0.8


async def test_big_brand_needs_a_real_excess_over_200_an_hour(
    store: Database, alert_store: Outbox
) -> None:
    """Baseline 200/h: 230 is ordinary noise, 300 is a spike (a k-sigma rule on 0.5/h would flood)."""
    now = _hour(datetime.now(UTC)) + timedelta(minutes=50)
    hour = _hour(now)
    await _history(store, "Huge", hour, [195, 205, 200])
    await negatives(store, "Huge", hour, 230)
    spike = rule(rule="negative_spike", windows=[1], baseline_days=3)
    assert await engine(alert_store, spike, brands=["Huge"]).run_once(now) == 0
    await negatives(store, "Huge", hour, 70)
    assert await engine(alert_store, spike, brands=["Huge"]).run_once(now) == 1
    assert (await alert_store.recent())[0]["payload"]["count"] == 300


async def test_a_slow_build_up_is_caught_by_the_longer_windows(
    store: Database, alert_store: Outbox
) -> None:
    """No single hour stands out, six hours together do: windows of 3 and 6 hours catch it."""
    now = _hour(datetime.now(UTC)) + timedelta(minutes=59)
    hour = _hour(now)
    for back in range(6):
        await _history(store, "Acme", hour, [4, 3, 5], back=back)
    for back, count in enumerate([9, 9, 8, 8, 7, 7]):
        await negatives(store, "Acme", hour - timedelta(hours=back), count)
    hourly = rule(rule="negative_spike", name="hourly", windows=[1], baseline_days=3)
    assert await engine(alert_store, hourly, brands=["Acme"]).run_once(now) == 0
    windows = rule(rule="negative_spike", name="windows", windows=[1, 3, 6], baseline_days=3)
    assert await engine(alert_store, windows, brands=["Acme"]).run_once(now) == 1


async def test_one_alert_per_spike_episode_not_one_per_hour(
    store: Database, alert_store: Outbox
) -> None:
    """Consecutive anomalous hours are one episode; a new spike after a calm hour is another."""
    start = _hour(datetime.now(UTC)) - timedelta(hours=6)
    for back in range(-6, 1):
        await _history(store, "Tiny", start, [0, 1, 0, 1, 0], back=back)
    spike = rule(rule="negative_spike", windows=[1], baseline_days=5)
    await negatives(store, "Tiny", start, 9)
    assert (
        await engine(alert_store, spike, brands=["Tiny"]).run_once(start + timedelta(minutes=30))
        == 1
    )
    await negatives(store, "Tiny", start + timedelta(hours=1), 12)  # still spiking
    later = engine(store.outbox, spike, brands=["Tiny"])  # even after a restart
    assert await later.run_once(start + timedelta(hours=1, minutes=30)) == 0
    # a calm hour, then a new spike
    await negatives(store, "Tiny", start + timedelta(hours=3), 10)
    assert await later.run_once(start + timedelta(hours=3, minutes=30)) == 1
    assert len(await keys(alert_store)) == 2


async def test_digest_comes_once_a_day_after_its_local_time(
    store: Database, alert_store: Outbox
) -> None:
    """Before 09:00 in its time zone nothing; after, one digest per brand with yesterday's figures."""
    zone_now = datetime(2026, 3, 10, 8, 30, tzinfo=UTC)  # 09:30 in Paris (UTC+1)
    day = datetime(2026, 3, 9, tzinfo=UTC)
    rollups = store.collection("rollups")
    await rollups.insert_many(
        [
            {"brand": "Acme", "day": day, "source": "reddit", "total": 30, "positive": 10,
             "neutral": 8, "negative": 12, "complaints": 4},
            {"brand": "Acme", "day": day, "source": "rss", "total": 10, "positive": 5,
             "neutral": 5, "negative": 0, "complaints": 0},
            {"brand": "Acme", "day": day - timedelta(days=1), "source": "reddit", "total": 20,
             "positive": 10, "neutral": 5, "negative": 5, "complaints": 1},
        ]
    )  # fmt: skip
    await scored(store, "Worst service ever, Acme", created_at=day + timedelta(hours=5))
    digest = rule(rule="digest", at="09:00", timezone="Europe/Paris", brands=["Acme"])
    early = engine(alert_store, digest)
    assert await early.run_once(zone_now - timedelta(hours=1)) == 0
    assert await early.run_once(zone_now) == 1
    assert await engine(store.outbox, digest).run_once(zone_now + timedelta(hours=3)) == 0
    (doc,) = await alert_store.recent()
    payload = doc["payload"]
    assert doc["dedupe_key"] == "digest:Acme:2026-03-10:digest"
    # 40 in the roll-ups written here, and the complaint scored above
    assert payload["totals"]["total"] == 41 and payload["previous"]["total"] == 20
    assert payload["totals"]["complaints"] == 5
    assert payload["top_complaints"][0]["text"].startswith("Worst service")
    assert await engine(alert_store, digest).run_once(zone_now + timedelta(days=1)) == 1


async def test_the_first_cursor_is_kept_so_a_late_pass_still_sees_what_came_after_it(
    store: Database, alert_store: Outbox
) -> None:
    """An engine that found nothing at first still alerts on complaints scored hours before its next pass."""
    first = engine(alert_store, rule(rule="complaint"))
    assert await first.run_once() == 0
    await scored(store)
    assert await first.run_once(datetime.now(UTC) + timedelta(hours=3)) == 1


async def test_a_complaint_corrected_before_the_engine_reads_it_raises_no_alert(
    store: Database, alert_store: Outbox
) -> None:
    """A person's "not a complaint" is what the complaint rule reads."""
    kept = await scored(store, followers=200_000)
    wrong = await scored(store, "Where do I find the manual?", followers=200_000)
    await store.complaints.correct(str(wrong), complaint=False, kind="question", by="ann")
    every = rule(rule="complaint", name="every")
    assert await engine(alert_store, every).run_once() == 1
    assert await keys(alert_store) == [f"complaint:{kept}:every"]


async def test_a_post_marked_a_complaint_after_its_scoring_is_raised_by_the_next_pass_once(
    store: Database, alert_store: Outbox
) -> None:
    """The engine's cursor is past the post's scoring: the correction's own cursor finds it."""
    missed = await scored(store, "Acme wiped my account", complaint=False, followers=200_000)
    await asyncio.sleep(0.01)
    later = await scored(store, "Acme lost my order", followers=200_000)
    every = rule(rule="complaint", name="every")
    # No overlap: what the complaints cursor passed is not read again by that cursor.
    first = AlertEngine(alert_store, [every], brands=["Acme"], dashboard_link=DASH, overlap=ZERO)
    assert await first.run_once() == 1
    await store.complaints.correct(str(missed), complaint=True, by="ann")
    assert await first.run_once() == 1
    assert await keys(alert_store) == sorted(f"complaint:{i}:every" for i in (missed, later))
    # Read again (a second correction, a restarted engine): never raised twice.
    await store.complaints.correct(str(missed), sentiment="negative", complaint=True, by="bo")
    assert await first.run_once() == 0
    assert await engine(alert_store, every).run_once() == 0
    # Marked a complaint, then "not a complaint" again before a pass: nothing is raised.
    undone = await scored(store, "Acme, where is the manual?", complaint=False, followers=200_000)
    assert await first.run_once() == 0
    await store.complaints.correct(str(undone), complaint=True, by="ann")
    await store.complaints.correct(str(undone), complaint=False, kind="question", by="ann")
    assert await first.run_once() == 0
    assert len(await keys(alert_store)) == 2


async def test_the_digest_counts_mentions_not_scored_for_language_beside_the_scored(
    store: Database, alert_store: Outbox
) -> None:
    """Yesterday's mentions the model does not read appear as their own count, not in a sentiment."""
    day = datetime(2026, 3, 9, tzinfo=UTC)
    texts = ["Acme is great", "Acme est nul", "Acme ist toll", "Acme es malo"]
    await store.mentions.upsert([mention(t, created_at=day + timedelta(hours=3)) for t in texts])
    claim = await store.queue.claim("w", limit=10, lease=timedelta(minutes=5))
    by_text = {doc["text"]: doc["_id"] for doc in claim.mentions}
    await store.queue.save(claim, {by_text["Acme is great"]: sentiment("positive")})
    await store.queue.skip(
        claim, {by_text[t]: {"language": t[-3:]} for t in texts if t != "Acme is great"}
    )
    digest = rule(rule="digest", at="09:00", timezone="UTC", brands=["Acme"])
    assert await engine(alert_store, digest).run_once(datetime(2026, 3, 10, 9, 30, tzinfo=UTC)) == 1
    (doc,) = await alert_store.recent()
    payload = doc["payload"]
    assert (payload["totals"]["total"], payload["totals"]["unscored"]) == (1, 3)
    assert "3 not scored (language)" in payload["summary"]
    flat = str(render(payload))
    assert "*not scored (language)* 3, new vs the day before" in flat
    assert "*positive* 1 (100%)" in flat


async def test_max_age_hours_skips_complaints_about_old_posts(
    store: Database, alert_store: Outbox
) -> None:
    """With ``max_age_hours`` a complaint about a post older than that (a back-fill) raises
    nothing; one about a fresh post does."""
    now = datetime.now(UTC)
    await scored(store, created_at=now - timedelta(days=3))
    fresh = await scored(store, created_at=now - timedelta(minutes=5))
    assert await engine(alert_store, rule(rule="complaint", max_age_hours=2)).run_once() == 1
    assert await keys(alert_store) == [f"complaint:{fresh}:complaint"]


async def test_the_demo_rules_fire_on_the_replayed_tweets_time_shape(
    store: Database, alert_store: Outbox
) -> None:
    """The demo's replay back-fills two weeks of real tweets, then releases 5 a run: after three
    runs (15 minutes of ``make run``) its rules raise complaint alerts for the fresh tweets only,
    and a negative spike for United Airlines, all to the dashboard."""
    brand = "United Airlines"
    source, cursor = ReplaySource(), None
    for _ in range(4):  # the back-fill, then three live runs
        page = await source.fetch(None, Target(brand), cursor)  # type: ignore[arg-type]
        await store.mentions.upsert(page.mentions)
        cursor = page.cursor
    # Scored as the scorer would, by the crowd's label (the model's verdicts are its own test).
    claim = await store.queue.claim("test", limit=1000, lease=timedelta(minutes=5))
    crowd = {doc["_id"]: doc["raw"]["crowd_label"] for doc in claim.mentions}
    await store.queue.save(
        claim,
        {key: sentiment(label) for key, label in crowd.items()},
        {
            key: {"is_complaint": label == "negative", "score": 0.9, "category": None,
                  "reasons": [], "kind": "complaint" if label == "negative" else "other"}
            for key, label in crowd.items()
        },
    )  # fmt: skip
    demo = default_watchlist(Settings(replay_interval_seconds=300))
    now = datetime.now(UTC)
    demo_engine = AlertEngine(alert_store, demo.alerts, brands=[brand], dashboard_link=DASH)
    assert await demo_engine.run_once(now) > 0
    raised = await alert_store.recent(limit=1000)
    assert {doc["destination"] for doc in raised} == {"dashboard"}
    complaints = [doc for doc in raised if doc["rule"] == "complaints"]
    spikes = [doc for doc in raised if doc["rule"] == "negative-spikes"]
    assert len(spikes) == 1 and spikes[0]["payload"]["count"] >= 5
    backfilled = sum(label == "negative" for label in crowd.values()) - len(complaints)
    assert len(complaints) >= 5 and backfilled > 300
    for doc in complaints:
        created = datetime.fromisoformat(doc["payload"]["created_at"])
        assert now - created <= timedelta(hours=2)


async def test_a_spike_is_judged_on_a_back_fill_that_came_after_the_engine_started(
    store: Database, alert_store: Outbox
) -> None:
    """At a fresh start the engine counts history before the replay's back-fill is stored:
    a later pass counts the young brand afresh, so the live tweets raise their spike."""
    brand, source, cursor = "United Airlines", ReplaySource(), None
    spikes = [r for r in default_watchlist(Settings()).alerts if r.rule == "negative_spike"]
    started = datetime.now(UTC)
    demo_engine = AlertEngine(alert_store, spikes, brands=[brand], dashboard_link=DASH)
    assert await demo_engine.run_once(started) == 0  # nothing collected yet
    for _ in range(4):  # the back-fill, then three live runs
        page = await source.fetch(None, Target(brand), cursor)  # type: ignore[arg-type]
        await store.mentions.upsert(page.mentions)
        cursor = page.cursor
    claim = await store.queue.claim("test", limit=1000, lease=timedelta(minutes=5))
    crowd = {doc["_id"]: doc["raw"]["crowd_label"] for doc in claim.mentions}
    await store.queue.save(claim, {key: sentiment(label) for key, label in crowd.items()})
    assert await demo_engine.run_once(started + timedelta(minutes=11)) == 1
    (doc,) = await alert_store.recent()
    assert doc["dedupe_key"].startswith(f"spike:{brand}:")
