"""Profiles against a real MongoDB-protocol server: resolving authors, advocacy, merges, proposals."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from customers.advocacy import as_of_for
from customers.profiles import ProfileStore
from customers.resolution import collected_profile_id
from goodwill.identity import erasure_hash, handle_key
from goodwill.models import Author, Mention, utcnow
from store import Database
from tests.factories import seed

_numbers = itertools.count(1)


def said(
    text: str = "Acme is great",
    *,
    who: str = "jane",
    author_id: str | None = None,
    source: str = "replay",
    brand: str = "Acme",
    age: timedelta = timedelta(days=1),
    followers: int | None = None,
    url: str | None = None,
    name: str | None = None,
) -> Mention:
    """A mention by the account ``who`` (id ``id-<who>`` unless given)."""
    return Mention(
        source=source,
        external_id=f"p{next(_numbers)}",
        brand=brand,
        text=f"{text} #{next(_numbers)}",
        author=Author(
            id=author_id or f"id-{who}",
            handle=who,
            display_name=name,
            followers=followers,
            url=url,
        ),
        created_at=utcnow() - age,
    )


async def ingest(
    store: Database, profiles: ProfileStore, items: Sequence[tuple[Mention, str | None]]
) -> dict[Any, str]:
    """Store and score the mentions, resolve their authors, refresh the pairs (as the worker)."""
    await seed(store, items)
    docs = [doc async for doc in store.collection("mentions").find({"author_key": None})]
    resolved = await profiles.resolve(docs)
    brands = {doc["_id"]: doc["brand"] for doc in docs}
    await profiles.refresh({(pid, brands[mid]) for mid, pid in resolved.items()})
    return resolved


async def profile_of(store: Database, who: str, source: str = "replay") -> dict[str, Any]:
    doc = await store.collection("profiles").find_one({"identities.handle_key": f"{source}:{who}"})
    assert doc is not None
    return doc


async def advocacy(store: Database) -> dict[str, dict[str, Any]]:
    """Every advocacy document's numbers, by id (timestamps left out)."""
    keep = ("score", "tier", "love", "reach_factor", "mentions", "positive", "negative")
    return {
        doc["_id"]: {name: doc[name] for name in keep}
        async for doc in store.collection("advocacy").find({})
    }


async def counts(store: Database) -> dict[str, Any]:
    fields = ("counts", "reach", "first_seen", "last_seen")
    return {
        doc["_id"]: {name: doc.get(name) for name in fields}
        async for doc in store.collection("profiles").find({})
    }


@pytest.fixture
def profiles(store: Database) -> ProfileStore:
    return ProfileStore(store)


async def test_authors_become_profiles_with_identities_counts_and_advocacy(
    store: Database, profiles: ProfileStore
) -> None:
    """Each new author gets one collected profile; its mentions point at it; counts and advocacy follow."""
    await ingest(
        store,
        profiles,
        [
            (said(who="jane", followers=999, name="Jane D", url="https://x.test/jane"), "positive"),
            (said(who="jane", followers=1200), "positive"),
            (said(who="jane", brand="Globex"), "negative"),
            (said(who="bob"), "neutral"),
        ],
    )
    assert await store.collection("profiles").count_documents({}) == 2
    jane = await profile_of(store, "jane")
    assert jane["_id"] == collected_profile_id("replay:id:id-jane")
    assert jane["origin"] == "collected" and jane["display_name"] == "Jane D"
    [identity] = jane["identities"]
    assert identity["key"] == "replay:id:id-jane"
    assert identity["handle_key"] == "replay:jane"
    assert identity["followers"] == 1200 and identity["url"] == "https://x.test/jane"
    assert jane["reach"] == 1200
    assert jane["counts"] == {
        "mentions": 3,
        "scored": 3,
        "positive": 2,
        "neutral": 0,
        "negative": 1,
        "complaints": 0,
    }
    mentions = store.collection("mentions")
    assert await mentions.count_documents({"profile_id": jane["_id"]}) == 3
    assert await mentions.count_documents({"author_key": "replay:id:id-jane"}) == 3
    acme = await store.collection("advocacy").find_one({"_id": f"{jane['_id']}|Acme"})
    assert acme is not None
    assert (acme["mentions"], acme["positive"], acme["sources"]) == (2, 2, ["replay"])
    assert acme["score"] > 0 and acme["as_of"] == as_of_for(utcnow())
    globex = await store.collection("advocacy").find_one({"_id": f"{jane['_id']}|Globex"})
    assert globex is not None and globex["score"] < 0


async def test_mentions_without_an_author_are_left_alone(
    store: Database, profiles: ProfileStore
) -> None:
    """A source naming no author resolves to nothing and creates no profile."""
    anonymous = Mention(
        source="replay", external_id="anon", brand="Acme", text="hi", created_at=utcnow()
    )
    await seed(store, [(anonymous, "neutral")])
    docs = [doc async for doc in store.collection("mentions").find({})]
    assert await profiles.resolve(docs) == {}
    assert await store.collection("profiles").count_documents({}) == 0


async def test_two_scorers_racing_on_a_new_author_create_one_profile(
    store: Database, mongodb_uri: str, database_name: str
) -> None:
    """Two processes (two clients) resolving the same new author at once converge on one profile."""
    await seed(store, [(said(who="racer"), "positive") for _ in range(6)])
    docs = [doc async for doc in store.collection("mentions").find({})]
    other = await Database.open(mongodb_uri, database_name)
    try:
        first, second = await asyncio.gather(
            ProfileStore(store).resolve(docs[:4]), ProfileStore(other).resolve(docs[2:])
        )
    finally:
        await other.close()
    assert await store.collection("profiles").count_documents({}) == 1
    assert (
        set(first.values()) == set(second.values()) == {collected_profile_id("replay:id:id-racer")}
    )


async def test_an_erased_author_is_never_rebuilt(store: Database, profiles: ProfileStore) -> None:
    """A mention by an erased identity (or handle) gets no profile and loses its author fields."""
    await store.collection("erasures").insert_one(
        {
            "at": utcnow(),
            "by": "dpo",
            "identity_hashes": [erasure_hash(handle_key("replay", "gone"))],
            "mentions": 0,
        }
    )
    resolved = await ingest(
        store, profiles, [(said(who="gone"), "positive"), (said(who="kept"), "positive")]
    )
    assert len(resolved) == 1
    assert await store.collection("profiles").count_documents({}) == 1
    stripped = await store.collection("mentions").find_one(
        {"text": {"$regex": "^Acme"}, "author": None}
    )
    assert stripped is not None
    assert "author_key" not in stripped and "profile_id" not in stripped and "raw" not in stripped


async def test_an_account_the_crm_named_by_handle_joins_that_profile(
    store: Database, profiles: ProfileStore
) -> None:
    """A CRM profile knowing only @vip's handle receives the account when @vip posts."""
    key = handle_key("replay", "vip")
    crm = {
        "_id": "p_crm0000000000001",
        "display_name": "Very Important",
        "identities": [
            {"key": key, "handle_key": key, "source": "replay", "id": None, "handle": "vip"}
        ],
        "emails": ["vip@example.com"],
        "origin": "crm",
        "created_at": utcnow(),
    }
    await store.collection("profiles").insert_one(crm)
    resolved = await ingest(store, profiles, [(said(who="vip"), "positive")])
    assert set(resolved.values()) == {crm["_id"]}
    doc = await store.collection("profiles").find_one({"_id": crm["_id"]})
    assert doc is not None
    assert [i["key"] for i in doc["identities"]] == [key, "replay:id:id-vip"]
    assert doc["counts"]["mentions"] == 1


async def test_a_tier_change_is_recorded_and_returned(
    store: Database, profiles: ProfileStore
) -> None:
    """A person whose posts turn positive becomes an advocate: previous_tier and tier_changed_at say so."""
    await ingest(store, profiles, [(said(who="fan"), "neutral")])
    pid = (await profile_of(store, "fan"))["_id"]
    first = await store.collection("advocacy").find_one({"_id": f"{pid}|Acme"})
    assert first is not None
    assert (first["tier"], first["previous_tier"], first["tier_changed_at"]) == (
        "neutral",
        None,
        None,
    )
    await seed(store, [(said(who="fan"), "positive") for _ in range(5)])
    docs = [doc async for doc in store.collection("mentions").find({"author_key": None})]
    await profiles.resolve(docs)
    [change] = await profiles.refresh({(pid, "Acme")})
    assert (change.profile_id, change.brand, change.old, change.new) == (
        pid,
        "Acme",
        "neutral",
        "advocate",
    )
    now = await store.collection("advocacy").find_one({"_id": f"{pid}|Acme"})
    assert now is not None
    assert (now["tier"], now["previous_tier"]) == ("advocate", "neutral")
    assert now["tier_changed_at"] is not None and now["score"] == change.score
    assert await profiles.refresh({(pid, "Acme")}) == []


async def test_recompute_all_gives_exactly_the_incremental_numbers(
    store: Database, profiles: ProfileStore
) -> None:
    """A full recompute writes the same scores and counts as the refreshes did, and drops orphan pairs."""
    items: list[tuple[Mention, str | None]] = [
        (
            said(
                who=f"u{i % 7}",
                brand=("Acme", "Globex")[i % 2],
                age=timedelta(days=i * 3),
                followers=i * 50,
            ),
            label,
        )
        for i, label in enumerate(["positive", "negative", "neutral", "positive", None] * 8)
    ]
    await ingest(store, profiles, items)
    before_advocacy, before_counts = await advocacy(store), await counts(store)
    await store.collection("advocacy").insert_one(
        {"_id": "p_nobody|Acme", "profile_id": "p_nobody", "brand": "Acme", "tier": "advocate"}
    )
    stats = await profiles.recompute_all()
    assert await advocacy(store) == before_advocacy
    assert await counts(store) == before_counts
    assert stats.removed == 1 and stats.advocacy == len(before_advocacy) and stats.tier_changes == 0
    assert stats.written == 1  # the orphan deleted; identical documents are not rewritten
    assert stats.mentions == 40


async def test_get_finds_a_person_by_id_email_handle_or_identity_key(
    store: Database, profiles: ProfileStore
) -> None:
    """Any of the four references finds the profile; unknown and ambiguous ones say what to pass."""
    await ingest(store, profiles, [(said(who="Jane"), "positive"), (said(who="joe"), "positive")])
    jane = await profile_of(store, "jane")
    await store.collection("profiles").update_one(
        {"_id": jane["_id"]}, {"$set": {"emails": ["jane@example.com"]}}
    )
    for ref in (jane["_id"], "Jane@Example.com", "replay:@JANE", "replay:id:id-Jane"):
        assert (await profiles.get(ref))["_id"] == jane["_id"]
    with pytest.raises(ValueError, match=r"No profile matches 'nobody@x\.com'\. Name a person by"):
        await profiles.get("nobody@x.com")
    joe = await profile_of(store, "joe")
    await store.collection("profiles").update_one(
        {"_id": joe["_id"]}, {"$set": {"emails": ["jane@example.com"]}}
    )
    with pytest.raises(ValueError, match="names 2 profiles"):
        await profiles.get("jane@example.com")


async def snapshot(store: Database, pid: str) -> dict[str, Any]:
    """What a split must give back exactly: identities, emails, tags, counts, mentions, advocacy."""
    doc = await store.collection("profiles").find_one({"_id": pid})
    assert doc is not None
    mentions = sorted(
        [m["_id"] async for m in store.collection("mentions").find({"profile_id": pid})]
    )
    scores = {
        a["brand"]: (a["score"], a["tier"], a["mentions"])
        async for a in store.collection("advocacy").find({"profile_id": pid})
    }
    keep = (
        "identities",
        "emails",
        "tags",
        "counts",
        "reach",
        "crm_id",
        "crm_fields",
        "display_name",
        "first_seen",
        "last_seen",
    )
    return {"profile": {k: doc.get(k) for k in keep}, "mentions": mentions, "advocacy": scores}


async def test_merge_then_split_gives_each_side_back_exactly(
    store: Database, profiles: ProfileStore
) -> None:
    """After a merge and its split, both profiles' identities, mentions and scores are as before."""
    await ingest(
        store,
        profiles,
        [(said(who="ann", followers=10), "positive")] * 1
        + [
            (said(who="ann"), "positive"),
            (said(who="ann2", source="mastodon", followers=5000), "negative"),
        ]
        + [(said(who="ann2", source="mastodon", brand="Globex"), "positive")],
    )
    ann, ann2 = await profile_of(store, "ann"), await profile_of(store, "ann2", "mastodon")
    await store.collection("profiles").update_one(
        {"_id": ann2["_id"]},
        {
            "$set": {
                "emails": ["ann@example.com"],
                "tags": ["vip"],
                "crm_id": "C-9",
                "crm_fields": {"company": "Initech"},
            }
        },
    )
    before = {pid: await snapshot(store, pid) for pid in (ann["_id"], ann2["_id"])}

    record = await profiles.merges.merge(ann["_id"], ann2["_id"], by="lea", reason="same person")
    merged = await store.collection("profiles").find_one({"_id": ann["_id"]})
    assert merged is not None
    assert await store.collection("profiles").find_one({"_id": ann2["_id"]}) is None
    assert [i["key"] for i in merged["identities"]] == ["replay:id:id-ann", "mastodon:id:id-ann2"]
    assert merged["emails"] == ["ann@example.com"] and merged["crm_id"] == "C-9"
    assert merged["crm_fields"] == {"company": "Initech"} and merged["reach"] == 5000
    assert merged["counts"]["mentions"] == 4
    assert await store.collection("advocacy").count_documents({"profile_id": ann2["_id"]}) == 0
    assert await store.collection("mentions").count_documents({"profile_id": ann["_id"]}) == 4
    assert {
        a["brand"] async for a in store.collection("advocacy").find({"profile_id": ann["_id"]})
    } == {"Acme", "Globex"}

    split = await profiles.merges.split(str(record["_id"]), by="lea")
    assert split["split_by"] == "lea"
    after = {pid: await snapshot(store, pid) for pid in (ann["_id"], ann2["_id"])}
    assert after == before


async def test_merge_and_split_refuse_what_cannot_be_done(
    store: Database, profiles: ProfileStore
) -> None:
    """Self-merge, unknown ids, a second split, and a split whose identities moved on are refused."""
    await ingest(store, profiles, [(said(who=w), "positive") for w in ("a", "b", "c")])
    a, b, c = [(await profile_of(store, w))["_id"] for w in ("a", "b", "c")]
    with pytest.raises(ValueError, match="with itself"):
        await profiles.merges.merge(a, a, by="lea")
    with pytest.raises(ValueError, match="No profile has the id 'p_missing'"):
        await profiles.merges.merge(a, "p_missing", by="lea")
    with pytest.raises(ValueError, match="--by"):
        await profiles.merges.merge(a, b, by=" ")
    first = await profiles.merges.merge(a, b, by="lea")
    await profiles.merges.merge(c, a, by="lea")  # a (holding b's account) is absorbed by c
    with pytest.raises(ValueError, match="no longer exists"):
        await profiles.merges.split(str(first["_id"]), by="lea")
    await profiles.merges.split(a, by="lea")  # by the absorbed profile's id: undoes c <- a
    await profiles.merges.split(b, by="lea")
    with pytest.raises(ValueError, match="already split"):
        await profiles.merges.split(str(first["_id"]), by="lea")
    with pytest.raises(ValueError, match="No merge matches"):
        await profiles.merges.split("p_never", by="lea")
    again = await profiles.merges.merge(a, b, by="lea")
    await store.collection("profiles").update_one(
        {"_id": a}, {"$pull": {"identities": {"key": "replay:id:id-b"}}}
    )
    with pytest.raises(ValueError, match=r"identities replay:id:id-b have since left"):
        await profiles.merges.split(str(again["_id"]), by="lea")


async def test_proposals_from_shared_email_and_linked_url_never_come_back_once_rejected(
    store: Database, profiles: ProfileStore
) -> None:
    """Same email, or same name with a linked account URL, is proposed; a rejected pair is not again."""
    await ingest(
        store,
        profiles,
        [
            (said(who="e1"), "positive"),
            (said(who="e2"), "positive"),
            (said(who="n1", name="Kim Park", url="https://social.test/@kim"), "positive"),
            (said(who="n2", name="Kim  Park", source="mastodon"), "positive"),
            (said(who="n3", name="Kim Park", source="reddit"), "positive"),
        ],
    )
    ids = {
        w: (await profile_of(store, w, s))["_id"]
        for w, s in (
            ("e1", "replay"),
            ("e2", "replay"),
            ("n1", "replay"),
            ("n2", "mastodon"),
            ("n3", "reddit"),
        )
    }
    col = store.collection("profiles")
    for who in ("e1", "e2"):
        await col.update_one({"_id": ids[who]}, {"$set": {"emails": ["same@example.com"]}})
    await col.update_one(
        {"_id": ids["n2"]}, {"$set": {"crm_fields": {"social": "http://www.social.test/@kim/"}}}
    )
    run = await profiles.merges.proposals()
    found = {doc["_id"]: doc["reasons"] for doc in run.proposed}
    email_pair = "|".join(sorted((ids["e1"], ids["e2"])))
    name_pair = "|".join(sorted((ids["n1"], ids["n2"])))
    assert set(found) == {email_pair, name_pair}
    assert found[email_pair] == ["same email same@example.com"]
    assert "linked profile URL social.test/@kim" in found[name_pair][0]
    await profiles.merges.reject_proposal(email_pair, by="lea")
    merge = await profiles.merges.accept_proposal(name_pair, by="lea")
    assert merge["reason"].startswith("proposal: same name")
    again = await profiles.merges.proposals()
    assert again.proposed == [] and again.merged == []
    assert [p["_id"] for p in await profiles.merges.list_proposals("rejected")] == [email_pair]
    with pytest.raises(ValueError, match="already rejected"):
        await profiles.merges.reject_proposal(email_pair, by="lea")


async def test_same_crm_id_merges_automatically_but_never_after_a_split(
    store: Database, profiles: ProfileStore
) -> None:
    """Two profiles with one CRM record id are merged at once; once split, they stay apart."""
    await ingest(store, profiles, [(said(who="x1"), "positive"), (said(who="x2"), "negative")])
    x1, x2 = (await profile_of(store, "x1"))["_id"], (await profile_of(store, "x2"))["_id"]
    await store.collection("profiles").update_many({}, {"$set": {"crm_id": "HS-1"}})
    run = await profiles.merges.proposals()
    [record] = run.merged
    assert record["automatic"] and record["reason"] == "same CRM record id HS-1"
    assert {record["into"], record["absorbed"]} == {x1, x2}
    await profiles.merges.split(str(record["_id"]), by="lea")
    assert (await profiles.merges.proposals()).merged == []
    assert await store.collection("profiles").count_documents({}) == 2


async def test_leaderboard_pages_by_score_with_filters_and_profile_fields(
    store: Database, profiles: ProfileStore
) -> None:
    """Advocates come highest first, detractors lowest first; filters and counts agree."""
    items: list[tuple[Mention, str | None]] = []
    for who, label, times, source in (
        ("top", "positive", 6, "replay"),
        ("mid", "positive", 3, "mastodon"),
        ("low", "negative", 6, "replay"),
        ("lower", "negative", 3, "replay"),
        ("meh", "neutral", 2, "replay"),
    ):
        items += [(said(who=who, source=source, name=who.title(), followers=100), label)] * 1
        items += [(said(who=who, source=source), label) for _ in range(times - 1)]
    await ingest(store, profiles, items)
    board = await profiles.leaderboard("Acme")
    assert [doc["display_name"] for doc in board] == ["Top", "Mid", "Meh", "Lower", "Low"]
    assert board[0]["reach"] == 100 and board[0]["identities"][0]["handle"] == "top"
    advocates = await profiles.leaderboard("Acme", tier="advocate")
    assert [d["display_name"] for d in advocates] == ["Top", "Mid"]
    detractors = await profiles.leaderboard("Acme", tier="detractor")
    assert [d["display_name"] for d in detractors] == ["Low", "Lower"]
    assert [d["display_name"] for d in await profiles.leaderboard("Acme", source="mastodon")] == [
        "Mid"
    ]
    assert await profiles.leaderboard_count("Acme", tier="advocate") == 2
    assert await profiles.leaderboard_count("Acme", min_score=0) == 3
    page = await profiles.leaderboard("Acme", limit=2, offset=2)
    assert [d["display_name"] for d in page] == ["Meh", "Lower"]
    assert await profiles.leaderboard("Acme", since=utcnow() + timedelta(days=1)) == []
    with pytest.raises(ValueError, match="Tier must be one of"):
        await profiles.leaderboard("Acme", tier="fans")


async def test_profile_mentions_newest_first_and_score_history_per_day(
    store: Database, profiles: ProfileStore
) -> None:
    """A person's mentions come newest first; the history has one score per day they posted."""
    await ingest(
        store,
        profiles,
        [(said(who="h", age=timedelta(days=d)), "positive") for d in (10, 10, 5, 1)],
    )
    pid = (await profile_of(store, "h"))["_id"]
    mentions = await profiles.profile_mentions(pid, limit=3)
    assert len(mentions) == 3
    assert [m["created_at"] for m in mentions] == sorted(
        [m["created_at"] for m in mentions], reverse=True
    )
    history = await profiles.score_history(pid, "Acme")
    assert len(history) == 3
    assert [day for day, _ in history] == sorted(day for day, _ in history)
    assert history[0][1] < history[1][1] < history[2][1]  # more posts, more love
    current = await store.collection("advocacy").find_one({"_id": f"{pid}|Acme"})
    assert current is not None
    if history[-1][0] == datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0):
        assert history[-1][1] == current["score"]


async def test_a_recompute_insert_that_meets_a_scorers_write_replaces_it(store: Database) -> None:
    """When a scorer wrote a new pair's score while a recompute ran, the recompute's insert replaces it."""
    from store.profiles import _Writer

    advocacy = store.collection("advocacy")
    await advocacy.insert_one({"_id": "p_x|Acme", "score": 1.0})
    writer = _Writer(advocacy)
    await writer.insert({"_id": "p_x|Acme", "score": 2.0})
    await writer.insert({"_id": "p_y|Acme", "score": 3.0})
    await writer.flush()
    assert {doc["_id"]: doc["score"] async for doc in advocacy.find({})} == {
        "p_x|Acme": 2.0,
        "p_y|Acme": 3.0,
    }
    assert writer.written == 2


async def test_the_newest_sighting_sets_followers_and_an_older_one_only_first_seen(
    store: Database, profiles: ProfileStore
) -> None:
    """A newer post updates the account's followers; an older one (a back-fill) does not, but moves first_seen."""
    await ingest(
        store, profiles, [(said(who="grow", followers=100, age=timedelta(days=2)), "positive")]
    )
    await ingest(
        store, profiles, [(said(who="grow", followers=200, age=timedelta(days=1)), "positive")]
    )
    old = said(who="grow", followers=50, age=timedelta(days=30))
    await ingest(store, profiles, [(old, "positive")])
    doc = await profile_of(store, "grow")
    [identity] = doc["identities"]
    assert identity["followers"] == 200 and doc["reach"] == 200
    assert abs(identity["first_seen"] - old.created_at) < timedelta(milliseconds=1)
    assert identity["last_seen"] > identity["first_seen"] + timedelta(days=28)
