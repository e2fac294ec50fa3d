"""The themes store: saving a clustering, retiring, summaries over a window with their trend."""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from goodwill.models import utcnow
from scoring.themes import encode
from store import Database, ThemeWrite
from tests.factories import mention, seed, sentiment


def _centroid(axis: int) -> bytes:
    vector = np.zeros(384, dtype=np.float32)
    vector[axis] = 1.0
    return encode(vector)


async def _ids(store: Database) -> dict[str, object]:
    return {doc["text"]: doc["_id"] async for doc in store.collection("mentions").find({})}


async def test_summary_counts_window_previous_window_and_mixes(store: Database) -> None:
    """A theme's posts in the window, in the window before (trend), by sentiment, with its posts."""
    await seed(
        store,
        [(mention(f"refund {i}", age=timedelta(days=1, minutes=i)), "negative") for i in range(3)]
        + [
            (mention(f"refund old {i}", age=timedelta(days=9, minutes=i)), "negative")
            for i in range(2)
        ]
        + [(mention("refund meh", age=timedelta(days=2)), "neutral")],
    )
    ids = await _ids(store)
    saved = await store.themes.save_clustering(
        "Acme",
        [
            ThemeWrite(None, "refund · card", ["refund", "card"], _centroid(0), 0.7,
                       members=list(ids.values()), representatives=[ids["refund 0"]]),
        ],
    )  # fmt: skip
    assert saved == ["T1"]
    [row] = await store.themes.summary("Acme", utcnow() - timedelta(days=7))
    assert (row["theme_id"], row["name"], row["count"], row["previous"]) == (
        "T1",
        "refund · card",
        4,
        2,
    )
    assert row["sentiments"] == {"negative": 3, "neutral": 1}
    assert [post["text"] for post in row["posts"]] == ["refund 0"]
    assert "embedding" not in row["posts"][0]


async def test_reclustering_keeps_matched_ids_mints_new_ones_and_retires_the_rest(
    store: Database,
) -> None:
    """Ids are never reused; an unmatched theme is retired and its mentions leave it."""
    await seed(store, [(mention(f"post {i}"), "negative") for i in range(4)])
    ids = list((await _ids(store)).values())
    first = await store.themes.save_clustering(
        "Acme",
        [
            ThemeWrite(None, "a", ["a"], _centroid(0), 0.7, members=ids[:2]),
            ThemeWrite(None, "b", ["b"], _centroid(1), 0.7, members=ids[2:]),
        ],
    )
    assert first == ["T1", "T2"]
    second = await store.themes.save_clustering(
        "Acme",
        [
            ThemeWrite("T2", "b2", ["b2"], _centroid(1), 0.7, members=ids[2:]),
            ThemeWrite(None, "c", ["c"], _centroid(2), 0.7, members=ids[:1]),
        ],
        unthemed=ids[1:2],
    )
    assert second == ["T2", "T3"]
    assert [d["theme_id"] for d in await store.themes.active("Acme")] == ["T2", "T3"]
    retired = await store.themes.get("Acme", "T1")
    assert retired is not None and retired["status"] == "retired"
    themes = {d["_id"]: d.get("theme_id") async for d in store.collection("mentions").find({})}
    assert [themes[i] for i in ids] == ["T3", None, "T2", "T2"]


async def test_only_one_process_holds_a_brands_reclustering(store: Database) -> None:
    """A live lease refuses a second claimant; a finished run is not due again before its time."""
    now = utcnow()
    assert await store.themes.claim_recluster(
        "Acme", "a", timedelta(minutes=5), finished_before=now
    )
    assert not await store.themes.claim_recluster(
        "Acme", "b", timedelta(minutes=5), finished_before=now
    )
    await store.themes.finish_recluster("Acme", "a")
    assert not await store.themes.claim_recluster(
        "Acme", "b", timedelta(minutes=5), finished_before=now - timedelta(hours=1)
    )
    assert await store.themes.claim_recluster(
        "Acme", "b", timedelta(minutes=5), finished_before=utcnow() + timedelta(seconds=1)
    )


async def test_daily_complaints_count_each_themes_complaints_per_utc_day(store: Database) -> None:
    """Only complaints count, per theme and UTC day (the dashboard's trend of a theme)."""
    await store.mentions.upsert([mention(f"refund {i}", age=timedelta(days=2)) for i in range(3)])
    claim = await store.queue.claim("t", limit=10, lease=timedelta(minutes=5))
    first, *rest = claim.mentions
    await store.queue.save(
        claim,
        {doc["_id"]: sentiment("negative") for doc in claim.mentions},
        {first["_id"]: {"is_complaint": False}, **{d["_id"]: {"is_complaint": True} for d in rest}},
    )
    await store.themes.save_clustering(
        "Acme", [ThemeWrite(None, "refund", ["refund"], _centroid(0), 0.7, members=[d["_id"] for d in claim.mentions])]
    )  # fmt: skip
    now = utcnow()
    counts = await store.themes.daily_complaints("Acme", now - timedelta(days=7), now)
    assert list(counts) == ["T1"] and sum(counts["T1"].values()) == 2
    [day] = counts["T1"]
    assert (day.hour, day.minute) == (0, 0)


async def test_window_summary_agrees_with_summary_and_reads_along_the_index(
    store: Database,
) -> None:
    """The dashboard's per-theme reads give the summary's figures, daily complaints and newest
    complaints first; each read is the one form the embedded server serves from the index."""
    await store.mentions.upsert(
        [mention(f"refund {i}", age=timedelta(days=1, hours=i)) for i in range(4)]
        + [mention("refund old", age=timedelta(days=9)), mention("gate", age=timedelta(days=2))]
    )
    claim = await store.queue.claim("t", limit=10, lease=timedelta(minutes=5))
    texts = {doc["_id"]: doc["text"] for doc in claim.mentions}
    await store.queue.save(
        claim,
        {key: sentiment("neutral" if text == "refund 3" else "negative") for key, text in texts.items()},
        {
            key: {"is_complaint": text in ("refund 0", "refund 1", "gate"), "category": "delivery"}
            for key, text in texts.items()
        },
    )  # fmt: skip
    ids = {text: key for key, text in texts.items()}
    await store.themes.save_clustering(
        "Acme",
        [
            ThemeWrite(None, "refund", ["refund"], _centroid(0), 0.7,
                       members=[ids[t] for t in texts.values() if t.startswith("refund")],
                       representatives=[ids["refund 2"]]),
            ThemeWrite(None, "gate", ["gate"], _centroid(1), 0.7, members=[ids["gate"]]),
        ],
    )  # fmt: skip
    now = utcnow()
    since = now - timedelta(days=7)
    expected = await store.themes.summary("Acme", since, now)
    got = await store.themes.window_summary("Acme", since, now)
    assert [{k: v for k, v in row.items() if k != "daily"} for row in got] == expected
    refund = got[0]
    assert (refund["count"], refund["previous"], refund["complaints"]) == (4, 1, 2)
    assert sum(refund["daily"].values()) == 2
    assert all(day.hour == 0 and day.minute == 0 for day in refund["daily"])
    latest = await store.themes.latest_complaints("Acme", "T1", since, now)
    assert [doc["text"] for doc in latest] == ["refund 0", "refund 1"]
    query = {"brand": "Acme", "theme_id": "T1", "created_at": {"$gte": since, "$lt": now}}
    plan = str(await store.collection("mentions").find(query).explain())
    assert "brand_theme_time" in plan
