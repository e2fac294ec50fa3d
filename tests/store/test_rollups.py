"""Roll-ups stay exact: a recount never races a live batch, a repaired batch adds nothing twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from goodwill.models import utcnow
from store import Database
from tests.factories import mention, seed

DAY = datetime(2026, 11, 20, tzinfo=UTC)
KEY = ("Acme", DAY, "replay")


async def counts(store: Database) -> dict[str, int]:
    doc = await store.collection("rollups").find_one(
        {"brand": "Acme", "day": DAY, "source": "replay"}
    )
    assert doc is not None
    return {name: int(doc.get(name, 0)) for name in ("total", "negative", "positive")}


async def seeded(store: Database) -> None:
    await seed(
        store,
        [(mention(created_at=DAY + timedelta(hours=h)), "negative") for h in range(3)]
        + [(mention(created_at=DAY + timedelta(hours=5)), "positive")],
    )


async def test_a_recount_waits_while_a_batch_is_in_flight(store: Database) -> None:
    """While a live batch has begun on a day, repair and rebuild leave its counts alone."""
    await seeded(store)
    rollups = store.rollups
    await rollups.begin("live-batch", [KEY], utcnow() + timedelta(minutes=5))
    await store.collection("rollups").update_one({"day": DAY}, {"$set": {"total": 99}})
    assert (await store.rollups.repair()).fixed == 0
    stats = await rollups.rebuild(attempts=1, pause=0.01)
    assert (stats.fixed, stats.busy) == (0, 1)
    assert (await counts(store))["total"] == 99
    await rollups.commit("live-batch", {KEY: {}})
    assert (await store.rollups.rebuild()).fixed == 1
    assert await counts(store) == {"total": 4, "negative": 3, "positive": 1}


async def test_a_dead_batch_is_recounted_once_and_its_late_commit_adds_nothing(
    store: Database,
) -> None:
    """After a repair took a dead batch's entry, that batch's commit (if it ever came) changes nothing."""
    await seeded(store)
    rollups = store.rollups
    await rollups.begin("dead-batch", [KEY], utcnow() - timedelta(seconds=1))
    await store.collection("rollups").update_one({"day": DAY}, {"$set": {"total": 1}})
    assert (await store.rollups.repair()).fixed == 1
    assert await counts(store) == {"total": 4, "negative": 3, "positive": 1}
    await rollups.commit("dead-batch", {KEY: {"total": 5, "negative": 5}})
    assert await counts(store) == {"total": 4, "negative": 3, "positive": 1}
    assert (await store.rollups.repair()).fixed == 0


async def test_rebuild_corrects_wrong_and_missing_days_and_reports_progress(
    store: Database,
) -> None:
    """A full rebuild recounts every day from the mentions, telling its progress day by day."""
    await seeded(store)
    await seed(store, [(mention(created_at=DAY + timedelta(days=1, hours=2)), "neutral")])
    await store.collection("rollups").update_one({"day": DAY}, {"$set": {"negative": 7}})
    await store.collection("rollups").delete_many({"day": DAY + timedelta(days=1)})
    seen: list[tuple[int, int]] = []
    stats = await store.rollups.rebuild(lambda done, total: seen.append((done, total)))
    assert (stats.days, stats.fixed, stats.busy) == (2, 2, 0)
    assert seen == [(1, 2), (2, 2)]
    assert await counts(store) == {"total": 4, "negative": 3, "positive": 1}
    again = await store.rollups.rebuild()
    assert (again.fixed, again.unchanged) == (0, 2)
