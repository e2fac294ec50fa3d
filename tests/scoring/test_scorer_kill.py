"""Real scorer processes killed with SIGKILL mid-batch lose and double nothing."""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import sys
import time

import pytest

from goodwill.models import Sentiment
from scoring.worker import ScoringWorker
from store import Database
from tests.factories import rollup_truth, stored_rollups
from tests.scoring.test_worker_faults import advocacy, posts


def _scorer(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "service.cli", "score"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


# Four scorer processes start (torch and the model each time) and score 2,000 texts.
@pytest.mark.timeout(300)
async def test_scorers_killed_mid_batch_leave_nothing_lost_doubled_or_miscounted(
    store: Database, goodwill_env: dict[str, str]
) -> None:
    """Three scorers SIGKILLed at random moments of their batches; the next run finishes exactly."""
    total = 2000
    await store.mentions.upsert(posts(total, days=4, people=40))
    env = {**goodwill_env, "GOODWILL_SCORE_LEASE_SECONDS": "2", "GOODWILL_SCORE_BATCH_SIZE": "16"}
    chance = random.Random(13)
    scored = 0
    for _ in range(3):
        process = _scorer(env)
        try:
            deadline = time.monotonic() + 90
            # Wait for this scorer to write its first batch, then kill it somewhere in a later one.
            while await store.mentions.count({"sentiment": {"$exists": True}}) <= scored:
                assert process.poll() is None, "the scorer stopped by itself"
                assert time.monotonic() < deadline, "the scorer wrote nothing in 90 s"
                await asyncio.sleep(0.1)
            await asyncio.sleep(chance.uniform(0.1, 1.5))
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        scored = await store.mentions.count({"sentiment": {"$exists": True}})
    assert scored < total, "the kills came too late to test anything"
    await asyncio.sleep(2.5)  # the dead scorers' leases run out

    finished = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "service.cli", "score", "--once",
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, errors = await asyncio.wait_for(finished.communicate(), timeout=300)
    assert finished.returncode == 0, errors.decode()
    assert await store.mentions.count({"score_state": "scored"}) == total
    assert await store.mentions.count({}) == total
    assert await stored_rollups(store) == await rollup_truth(store)
    assert sum(c["total"] for c in (await stored_rollups(store)).values()) == total
    repaired = await advocacy(store)
    await ScoringWorker(store, _NoModel()).profiles.recompute_all()
    assert await advocacy(store) == repaired


class _NoModel:
    """A predictor for a worker that only recomputes advocacy (it never scores)."""

    version = "none"

    def predict(self, texts: list[str], batch_size: int = 32) -> list[Sentiment]:
        raise AssertionError("nothing should be scored here")
