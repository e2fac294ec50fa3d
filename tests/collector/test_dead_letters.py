"""Who wrote an unparsable item: author keys read from raw items, kept with the dead letter."""

from __future__ import annotations

from typing import Any

import pytest

from collector.base import CollectContext, Page, Target
from collector.dead_letters import author_keys
from collector.runner import Job, Runner
from goodwill.identity import erasure_hash
from store import Database

BROKEN_POST = {"kind": "t3", "data": {"id": "p1", "author": "Bob", "author_fullname": "t2_bob"}}


@pytest.mark.parametrize(
    ("source", "item", "keys"),
    [
        ("reddit", BROKEN_POST, ["reddit:bob", "reddit:id:t2_bob"]),
        ("reddit", {"data": {"author": "[deleted]", "author_fullname": "t2_x"}}, None),
        ("hackernews", {"author": "pg", "objectID": "1"}, ["hackernews:id:pg", "hackernews:pg"]),
        ("github", {"user": {"id": 7, "login": "Octo"}}, ["github:id:7", "github:octo"]),
        ("github", {"author": {"databaseId": 7, "login": "octo"}}, ["github:id:7", "github:octo"]),
        ("stackexchange", {"owner": {"user_id": 42, "display_name": "Ann"}}, ["stackexchange:id:42"]),
        (
            "youtube",
            {"snippet": {"topLevelComment": {"snippet": {
                "authorChannelId": {"value": "UC1"}, "authorDisplayName": "@ann"}}}},
            ["youtube:ann", "youtube:id:UC1"],
        ),
        (
            "appstore",
            {"author": {"name": {"label": "Ann B"}, "uri": {"label": "https://x/id123"}}},
            ["appstore:ann b", "appstore:id:123"],
        ),
        ("mastodon", {"account": {"acct": "ann@social.example"}},
         ["mastodon:ann@social.example", "mastodon:id:ann@social.example"]),
        ("mastodon", {"account": {"acct": "local_only"}}, None),
        ("bluesky", {"author": {"did": "did:plc:a", "handle": "ann.bsky.social"}},
         ["bluesky:ann.bsky.social", "bluesky:id:did:plc:a"]),
        ("jetstream", {"did": "did:plc:a", "kind": "commit"}, ["bluesky:id:did:plc:a"]),
        ("rss", {"feed": "https://blog.example/feed"}, None),
        ("reddit", "not an object", None),
        ("reddit", {"data": None}, None),
    ],
)  # fmt: skip
def test_author_keys_are_read_from_the_raw_item_where_the_parser_reads_them(
    source: str, item: Any, keys: list[str] | None
) -> None:
    """Each source's raw item gives the keys its parser's mention would carry, or None."""
    assert author_keys(source, item) == keys


class BrokenReddit:
    """A source named reddit whose one item cannot be parsed."""

    name = "reddit"

    async def fetch(self, ctx: CollectContext, target: Target, cursor: Any) -> Page:
        return Page([], cursor, unparsed=[("post has no title", BROKEN_POST)])


async def test_the_runner_keeps_the_authors_with_a_dead_letter(store: Database) -> None:
    """A dead letter carries its author's keys; after their erasure, only the reason is kept."""
    runner = Runner(store, [Job("Acme", BrokenReddit(), 60)])
    result = await runner.run_job("reddit:Acme")
    assert result.dead_lettered == 1
    letter = await store.collection("dead_letters").find_one({})
    assert letter is not None and letter["payload"] == BROKEN_POST
    assert letter["authors"] == ["reddit:bob", "reddit:id:t2_bob"]
    await store.collection("erasures").insert_one(
        {"identity_hashes": [erasure_hash("reddit:id:t2_bob")], "by": "dpo", "mentions": 0}
    )
    await runner.run_job("reddit:Acme")
    again = await store.collection("dead_letters").find_one({"erased": True})
    assert again is not None and again["payload"] is None and again["reason"] == "post has no title"
