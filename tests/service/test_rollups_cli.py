"""``goodwill rollups rebuild``: the operator's recount of the daily roll-ups, run as a user runs it."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta

from store import Database
from tests.factories import mention, rollup_truth, seed, stored_rollups

DAY = datetime(2026, 11, 20, tzinfo=UTC)


async def test_rebuild_recounts_wrong_and_missing_roll_ups_with_progress(
    store: Database, goodwill_env: dict[str, str]
) -> None:
    """Roll-ups damaged by hand are recounted from the mentions; the command says what it did."""
    await seed(
        store,
        [
            (mention(created_at=DAY + timedelta(days=day, hours=hour)), label)
            for day in range(3)
            for hour, label in enumerate(["negative", "positive", "neutral", "negative"])
        ],
    )
    right = await rollup_truth(store)
    await store.collection("rollups").update_one({"day": DAY}, {"$inc": {"negative": 40}})
    await store.collection("rollups").delete_one({"day": DAY + timedelta(days=2)})
    assert await stored_rollups(store) != right

    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "service.cli", "rollups", "rebuild",
        env=goodwill_env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, err.decode()
    assert "Recounted 3 days: 2 roll-ups corrected, 1 already right." in out.decode()
    assert "recounting" in err.decode()  # the progress bar
    assert await stored_rollups(store) == right
