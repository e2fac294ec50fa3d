"""``goodwill themes``: a brand's themes as an operator reads them, run as a user runs it."""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta

import numpy as np

from scoring.themes import encode
from store import Database, ThemeWrite
from tests.factories import mention, seed


async def _run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "service.cli", "themes", *args,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_themes_prints_each_theme_with_trend_and_posts(
    store: Database, goodwill_env: dict[str, str]
) -> None:
    """Name, count against the window before, sentiment mix and a representative post."""
    await seed(
        store,
        [(mention(f"@acme lost my bag {i}", age=timedelta(days=1, minutes=i)), "negative") for i in range(3)],
    )  # fmt: skip
    ids = [doc["_id"] async for doc in store.collection("mentions").find({})]
    centroid = encode(np.eye(1, 384, dtype=np.float32)[0])
    await store.themes.save_clustering(
        "Acme",
        [ThemeWrite(None, "lost · bag", ["lost", "bag"], centroid, 0.7, members=ids, representatives=ids[:1])],
    )  # fmt: skip
    code, out, err = await _run(goodwill_env, "--brand", "acme", "--since", "7d")
    assert code == 0, err
    assert "T1  lost · bag" in out
    assert "3 posts (before: 0, new)" in out
    assert "sentiment: negative 3" in out
    assert '- "@acme lost my bag' in out


async def test_unknown_brand_names_the_known_ones(
    store: Database, goodwill_env: dict[str, str]
) -> None:
    """A brand with no mention stops with one line listing the brands there are."""
    await seed(store, [(mention("hello"), "neutral")])
    code, _, err = await _run(goodwill_env, "--brand", "Nobody")
    assert code == 1
    assert err.strip().splitlines() == ["No brand 'Nobody'; known brands: Acme."]
