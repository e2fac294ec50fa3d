"""``goodwill profiles ...`` run as a user runs it: a real process against the test database."""

from __future__ import annotations

import re

from customers.profiles import ProfileStore
from goodwill.models import Author, Mention, utcnow
from store import Database
from tests.factories import seed
from tests.service.test_cli import goodwill


async def _people(store: Database) -> dict[str, str]:
    """Two people with two scored mentions each (one on mastodon), resolved; returns handle -> id."""
    mentions = [
        Mention(
            source=source,
            external_id=f"{who}{i}",
            brand="Acme",
            text=f"{who} says Acme is great {i}",
            author=Author(id=f"id-{who}", handle=who, display_name=who.title(), followers=42),
            created_at=utcnow(),
        )
        for who, source in (("ann", "replay"), ("annie", "mastodon"))
        for i in range(2)
    ]
    await seed(store, [(m, "positive") for m in mentions])
    profiles = ProfileStore(store)
    docs = [doc async for doc in store.collection("mentions").find({})]
    resolved = await profiles.resolve(docs)
    await profiles.refresh({(pid, "Acme") for pid in resolved.values()})
    return {
        doc["identities"][0]["handle"]: doc["_id"]
        async for doc in store.collection("profiles").find({})
    }


async def test_show_prints_identities_advocacy_and_mentions(
    store: Database, goodwill_env: dict[str, str]
) -> None:
    """`profiles show source:handle` prints the person, their accounts, their score and posts."""
    ids = await _people(store)
    result = goodwill("profiles", "show", "replay:ann", env=goodwill_env)
    assert result.returncode == 0, result.stderr
    assert f"Ann ({ids['ann']})" in result.stdout
    assert "replay:id:id-ann" in result.stdout and "42 followers" in result.stdout
    assert re.search(r"Acme\s+advocate\s+\d+\.\d\d\s+2 mentions", result.stdout)
    assert "ann says Acme is great" in result.stdout


async def test_an_unknown_person_is_one_clear_line_and_exit_1(
    store: Database, goodwill_env: dict[str, str]
) -> None:
    """An unknown reference says what to pass instead, without a traceback."""
    await _people(store)
    result = goodwill("profiles", "show", "nobody@example.com", env=goodwill_env)
    assert result.returncode == 1
    assert "No profile matches 'nobody@example.com'" in result.stderr
    assert "source:handle" in result.stderr and "Traceback" not in result.stderr


async def test_merge_then_split_round_trip(store: Database, goodwill_env: dict[str, str]) -> None:
    """`merge` joins two people (show lists both accounts); `split` gives each their own back."""
    ids = await _people(store)
    merged = goodwill(
        "profiles", "merge", "replay:ann", "mastodon:annie", "--by", "lea", env=goodwill_env
    )
    assert merged.returncode == 0, merged.stderr
    merge_id = re.search(r"merge ([0-9a-f]{24})", merged.stdout)
    assert merge_id is not None
    shown = goodwill("profiles", "show", ids["ann"], env=goodwill_env)
    assert "mastodon:id:id-annie" in shown.stdout and "4 mentions" in shown.stdout
    gone = goodwill("profiles", "show", ids["annie"], env=goodwill_env)
    assert gone.returncode == 1

    split = goodwill("profiles", "split", merge_id.group(1), "--by", "lea", env=goodwill_env)
    assert split.returncode == 0, split.stderr
    assert f"{ids['annie']} is apart from {ids['ann']}" in split.stdout
    for handle, other in (("ann", "mastodon:id:id-annie"), ("annie", "replay:id:id-ann")):
        shown = goodwill("profiles", "show", ids[handle], env=goodwill_env)
        assert shown.returncode == 0 and f"{other} " not in shown.stdout
        assert re.search(r"Acme\s+advocate\s+\d+\.\d\d\s+2 mentions", shown.stdout)
    again = goodwill("profiles", "split", merge_id.group(1), env=goodwill_env)
    assert again.returncode == 1 and "already split" in again.stderr


async def test_list_proposals_and_recompute(store: Database, goodwill_env: dict[str, str]) -> None:
    """`list` ranks people per brand; `proposals` finds a shared email and `--reject` bars it; `recompute` reports."""
    ids = await _people(store)
    await store.collection("profiles").update_many({}, {"$set": {"emails": ["ann@example.com"]}})
    listed = goodwill("profiles", "list", "--brand", "Acme", env=goodwill_env)
    assert listed.returncode == 0, listed.stderr
    assert "Acme: 2 scored people" in listed.stdout and ids["ann"] in listed.stdout
    found = goodwill("profiles", "proposals", env=goodwill_env)
    assert found.returncode == 0, found.stderr
    pair = "|".join(sorted(ids.values()))
    assert "1 open proposals" in found.stdout and pair in found.stdout
    rejected = goodwill("profiles", "proposals", "--reject", pair, env=goodwill_env)
    assert rejected.returncode == 0 and "will not be proposed again" in rejected.stdout
    assert "0 open proposals" in goodwill("profiles", "proposals", env=goodwill_env).stdout
    recomputed = goodwill("profiles", "recompute", env=goodwill_env)
    assert recomputed.returncode == 0, recomputed.stderr
    assert "Done: 4 mentions, 2 profiles, 2 advocacy scores computed" in recomputed.stdout
    bad = goodwill("profiles", "list", "--tier", "fans", env=goodwill_env)
    assert bad.returncode == 1 and "Tier must be one of" in bad.stderr
