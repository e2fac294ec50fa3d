"""The runner applies what a source reports beyond new posts: owned posts, edits, deletions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from collector.base import CollectContext, Page, Target
from collector.runner import Job, Runner
from config.query import Query
from store import Database
from tests.factories import mention, rollup_truth, sentiment, stored_rollups


class ScriptedSource:
    """A source whose pages are given in advance (the HTTP of each source is tested with it)."""

    name = "scripted"

    def __init__(self, pages: list[Page]) -> None:
        self.pages = pages

    async def fetch(self, ctx: CollectContext, target: Target, cursor: Any) -> Page:
        return self.pages[0 if cursor is None else int(cursor)]


def _runner(store: Database, pages: list[Page]) -> Runner:
    job = Job("Acme", ScriptedSource(pages), 60, terms=("acme",), query=Query.parse('"acme"'))
    return Runner(store, [job])


async def test_an_owned_post_is_kept_whatever_its_words_and_search_is_still_filtered(
    store: Database,
) -> None:
    owned = mention("Love the new colours!", source="youtube", owned=True)
    searched = mention("Love the new colours!", source="youtube")
    on_topic = mention("acme skates rock", source="youtube")
    await _runner(store, [Page([owned, searched, on_topic], 1)]).run_job("scripted:Acme")
    kept = {doc["external_id"] async for doc in store.collection("mentions").find({})}
    assert kept == {owned.external_id, on_topic.external_id}


async def test_deletions_and_edits_a_source_reports_reach_the_store(store: Database) -> None:
    first = mention("acme is great", source="bluesky", external_id="at://x/1")
    second = mention("acme is fine", source="bluesky", external_id="at://x/2")
    runner = _runner(
        store,
        [
            Page([first, second], 1, more=False),
            Page(
                [],
                2,
                deleted=[("bluesky", "at://x/1")],
                edited=[second.model_copy(update={"text": "acme broke, refund"})],
            ),
        ],
    )
    await runner.run_job("scripted:Acme")
    claim = await store.queue.claim("w", limit=10, lease=timedelta(minutes=1))
    await store.queue.save(claim, {doc["_id"]: sentiment("positive") for doc in claim.mentions})
    assert sum(c["total"] for c in (await stored_rollups(store)).values()) == 2

    await runner.run_job("scripted:Acme")
    docs = [doc async for doc in store.collection("mentions").find({})]
    assert [doc["external_id"] for doc in docs] == ["at://x/2"]
    assert docs[0]["text"] == "acme broke, refund" and docs[0]["score_state"] == "pending"
    assert await stored_rollups(store) == await rollup_truth(store)
