"""A person's data rights: export everything held, erase it for good (real database)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId

from alerts.engine import AlertEngine
from collector.dead_letters import author_keys
from config.alerting import AlertRuleConfig
from customers.rights import PersonNotFound, erase, export_data, find_person
from goodwill.identity import crm_key, email_key, erasure_hash, handle_key, identity_key
from goodwill.models import Author, Mention
from store import Database
from tests.factories import advocacy_doc, profile_doc, seed, sentiment

SECRETS = ("bob_the_fan", "Bobby Tables", "bob@example.com", "t2_bob", "raw-secret")


def bobs_post(external_id: str, text: str = "I love Acme, says bob_the_fan") -> Mention:
    return Mention(
        source="reddit",
        external_id=external_id,
        brand="Acme",
        text=text,
        url=f"https://reddit.example/{external_id}",
        author=Author(id="t2_bob", handle="bob_the_fan", display_name="Bobby Tables"),
        created_at=datetime.now(UTC) - timedelta(days=1),
        raw={"note": "raw-secret"},
    )


async def seed_bob(store: Database) -> dict[str, Any]:
    """Bob: a profile with two scored mentions (one a handled complaint, one corrected),
    advocacy, a merge, a proposal and an alert; and Eve, whose data must stay."""
    bob = profile_doc(
        "bob_the_fan",
        source="reddit",
        author_id="t2_bob",
        display_name="Bobby Tables",
        emails=["bob@example.com"],
    )
    eve = profile_doc("eve", source="reddit", author_id="t2_eve", display_name="Eve")
    await store.collection("profiles").insert_many([bob, eve])
    eves_post = Mention(
        source="reddit",
        external_id="e1",
        brand="Acme",
        text="Acme is fine",
        author=Author(id="t2_eve", handle="eve"),
        created_at=datetime.now(UTC),
    )
    await seed(
        store,
        [(bobs_post("b1"), "positive"), (bobs_post("b2"), "negative"), (eves_post, "neutral")],
    )
    mentions = store.collection("mentions")
    for external_id, profile in (("b1", bob), ("b2", bob), ("e1", eve)):
        found = await mentions.find_one({"external_id": external_id})
        assert found is not None
        await mentions.update_one(
            {"_id": found["_id"]},
            {
                "$set": {
                    "profile_id": profile["_id"],
                    "author_key": identity_key("reddit", found["author"]),
                }
            },
        )
    b2 = await mentions.find_one({"external_id": "b2"})
    assert b2 is not None
    await mentions.update_one(
        {"_id": b2["_id"]},
        {
            "$set": {
                "complaint": {"is_complaint": True, "kind": "complaint"},
                "counted.complaint": True,
            }
        },
    )
    await store.complaints.handle(b2["_id"], "assign", "lead", "agent smith")
    await store.complaints.correct(b2["_id"], sentiment="negative", by="agent smith")
    await store.collection("advocacy").insert_many(
        [
            advocacy_doc(bob["_id"]),
            advocacy_doc(bob["_id"], brand="Globex"),
            advocacy_doc(eve["_id"]),
        ]
    )
    await store.collection("merges").insert_one(
        {
            "into": bob["_id"],
            "absorbed": "p_0000000000000001",
            "at": datetime.now(UTC),
            "by": "agent smith",
            "reason": "same person",
            "automatic": False,
            "snapshot_into": dict(bob),
            "snapshot_absorbed": {"_id": "p_0000000000000001", "display_name": "Bobby Tables"},
            "moved_identities": [handle_key("reddit", "bob_the_fan")],
            "moved_emails": ["bob@example.com"],
            "split_at": None,
            "split_by": None,
        }
    )
    pair = sorted((bob["_id"], eve["_id"]))
    await store.collection("merge_proposals").insert_one(
        {
            "_id": "|".join(pair),
            "a": pair[0],
            "b": pair[1],
            "reasons": ["similar names"],
            "created_at": datetime.now(UTC),
            "state": "open",
        }
    )
    await store.collection("alerts").insert_many(
        [
            {
                "dedupe_key": "a1",
                "rule": "complaint",
                "brand": "Acme",
                "destination": "slack",
                "created_at": datetime.now(UTC),
                "payload": {"mention_id": str(b2["_id"]), "author": "bob_the_fan"},
                "state": "pending",
                "attempts": 0,
            },
            {
                "dedupe_key": "a2",
                "rule": "complaint",
                "brand": "Acme",
                "destination": "slack",
                "created_at": datetime.now(UTC),
                "payload": {"author": "eve"},
                "state": "sent",
                "attempts": 1,
            },
        ]
    )
    # A post of Bob's the collector could not parse (no title): his author keys kept with it.
    child = {"kind": "t3", "data": {"id": "b9", "author": "bob_the_fan", "author_fullname": "t2_bob",
             "selftext": "raw-secret"}}  # fmt: skip
    await store.cursors.dead_letter(
        "reddit", "post has no title", child, brand="Acme", authors=author_keys("reddit", child)
    )
    return {"bob": bob, "eve": eve, "b2": b2["_id"]}


async def everything(store: Database) -> str:
    """Every document of every collection, as one JSON text to search."""
    database = store.collection("profiles").database
    docs = {
        name: [doc async for doc in database[name].find({})]
        for name in await database.list_collection_names()
    }
    return json.dumps(docs, default=str)


async def test_a_person_is_found_by_id_email_identity_key_or_handle(store: Database) -> None:
    """Each kind of reference finds Bob; unknown or ambiguous ones say what to pass."""
    people = await seed_bob(store)
    pid = people["bob"]["_id"]
    for reference in (pid, "BOB@example.com", "reddit:id:t2_bob", "reddit:@Bob_The_Fan"):
        assert (await find_person(store, reference)).profile_id == pid
    with pytest.raises(PersonNotFound, match="Pass a profile id"):
        await find_person(store, "nobody@example.com")
    await store.collection("profiles").insert_one(profile_doc(None, emails=["bob@example.com"]))
    with pytest.raises(PersonNotFound, match=r"matches 2 profiles.*pass one profile id"):
        await find_person(store, "bob@example.com")


async def test_export_data_holds_everything_about_the_person(store: Database) -> None:
    """The export has the profile, advocacy, mentions with handling, corrections, merges, proposals."""
    people = await seed_bob(store)
    data = await export_data(store, "bob@example.com")
    json.dumps(data)  # JSON-ready as returned
    assert data["profile"]["_id"] == people["bob"]["_id"]
    assert data["profile"]["emails"] == ["bob@example.com"]
    assert sorted(doc["brand"] for doc in data["advocacy"]) == ["Acme", "Globex"]
    assert sorted(m["external_id"] for m in data["mentions"]) == ["b1", "b2"]
    complaint = next(m for m in data["mentions"] if m["external_id"] == "b2")
    assert complaint["author"]["handle"] == "bob_the_fan"
    assert complaint["sentiment"]["label"] == "negative"
    assert complaint["handling"]["assignee"] == "agent smith"
    assert complaint["raw"] == {"note": "raw-secret"}
    assert [c["mention_id"] for c in data["corrections"]] == [str(people["b2"])]
    assert data["corrections"][0]["text"].startswith("I love Acme")
    assert len(data["merges"]) == 1 and data["merges"][0]["moved_emails"] == ["bob@example.com"]
    assert [p["reasons"] for p in data["merge_proposals"]] == [["similar names"]]
    assert [d["payload"]["data"]["id"] for d in data["dead_letters"]] == ["b9"]


async def test_erase_leaves_no_trace_of_the_person_anywhere(store: Database) -> None:
    """After erasure no collection holds Bob's name, handle, email, author id or raw payload."""
    people = await seed_bob(store)
    before = await everything(store)
    assert all(secret in before for secret in SECRETS)
    report = await erase(store, "reddit:bob_the_fan", by="dpo", keep_text=False)
    assert (report.mentions, report.advocacy, report.proposals, report.merges) == (2, 2, 1, 1)
    assert (report.alerts, report.corrections, report.kept_text) == (1, 1, False)
    assert report.dead_letters == 1
    after = await everything(store)
    for secret in (*SECRETS, people["bob"]["_id"]):
        assert secret not in after, f"{secret!r} survived the erasure"
    mentions = store.collection("mentions")
    erased = [doc async for doc in mentions.find({"brand": "Acme", "erased": True})]
    assert len(erased) == 2
    for doc in erased:
        assert doc["text"] == "" and "author" not in doc and "profile_id" not in doc
        assert "author_key" not in doc and "raw" not in doc
        assert doc["sentiment"]["label"] in ("positive", "negative")
        assert doc["source"] == "reddit" and doc["url"].startswith("https://reddit.example/")
    eve = await mentions.find_one({"external_id": "e1"})
    assert eve is not None and eve["author"]["handle"] == "eve" and eve["text"] == "Acme is fine"
    assert await store.collection("advocacy").count_documents({}) == 1
    assert await store.collection("profiles").count_documents({}) == 1
    alert = await store.collection("alerts").find_one({"dedupe_key": "a1"})
    assert alert is not None and alert["payload"] == {"erased": True} and alert["state"] == "failed"
    record = await store.collection("erasures").find_one({})
    assert record is not None
    assert record["by"] == "dpo" and record["mentions"] == 2
    assert erasure_hash("reddit:id:t2_bob") in record["identity_hashes"]
    assert erasure_hash(handle_key("reddit", "bob_the_fan")) in record["identity_hashes"]
    with pytest.raises(PersonNotFound):
        await find_person(store, "reddit:bob_the_fan")


async def test_erase_can_keep_the_text(store: Database) -> None:
    """With keep_text the posts keep their text; the author fields go all the same."""
    await seed_bob(store)
    report = await erase(store, "reddit:id:t2_bob", by="dpo", keep_text=True)
    assert report.kept_text and report.corrections == 0
    doc = await store.collection("mentions").find_one({"external_id": "b1"})
    assert doc is not None
    assert doc["text"].startswith("I love Acme") and doc["erased"] is True
    assert "author" not in doc and "raw" not in doc


async def test_a_recollected_post_by_an_erased_author_has_no_author(store: Database) -> None:
    """upsert_mentions drops author and raw of new (and re-collected) posts by an erased person."""
    await seed_bob(store)
    await erase(store, "bob@example.com", by="dpo", keep_text=False)
    result = await store.mentions.upsert([bobs_post("b3", "Acme again"), bobs_post("b1")])
    assert result.inserted == 1
    mentions = store.collection("mentions")
    new = await mentions.find_one({"external_id": "b3"})
    assert new is not None
    assert "author" not in new and "raw" not in new and new["erased"] is True
    assert new["text"] == "Acme again"
    old = await mentions.find_one({"external_id": "b1"})
    assert old is not None and "raw" not in old and "title" not in old and old["text"] == ""
    other = Mention(
        source="reddit",
        external_id="x1",
        brand="Acme",
        text="hi",
        author=Author(id="t2_someone", handle="someone"),
        created_at=datetime.now(UTC),
    )
    await store.mentions.upsert([other])
    kept = await mentions.find_one({"external_id": "x1"})
    assert kept is not None and kept["author"]["handle"] == "someone" and "erased" not in kept


async def test_an_unresolved_author_can_be_exported_and_erased(store: Database) -> None:
    """A source:handle with mentions but no profile yet is still a person with rights."""
    await store.mentions.upsert([bobs_post("u1")])
    data = await export_data(store, "reddit:bob_the_fan")
    assert data["profile"] is None and [m["external_id"] for m in data["mentions"]] == ["u1"]
    report = await erase(store, "reddit:bob_the_fan", by="dpo")
    assert report.profile_id is None and report.mentions == 1
    after = await everything(store)
    assert not any(secret in after for secret in SECRETS)
    assert ObjectId.is_valid(str((await store.collection("erasures").find_one({}) or {})["_id"]))


async def test_erase_records_hashes_of_emails_and_crm_ids_too(store: Database) -> None:
    """The erasure record holds the hashes of the person's emails and CRM ids (a merged-in one's too)."""
    bob = profile_doc("bob_the_fan", emails=["Bob@Example.com"], crm_id="HS-7")
    await store.collection("profiles").insert_one(bob)
    merge = {
        "into": bob["_id"],
        "at": datetime.now(UTC),
        "by": "agent smith",
        "reason": "same person",
        "automatic": False,
        "snapshot_into": {},
        "moved_identities": [],
        "moved_emails": [],
        "split_by": None,
    }
    await store.collection("merges").insert_many(
        [
            {
                **merge,
                "absorbed": "p_0000000000000001",
                "snapshot_absorbed": {"crm_id": "SF-9", "emails": ["old@example.com"]},
                "split_at": None,
            },
            {  # split apart again: that one is someone else
                **merge,
                "absorbed": "p_0000000000000002",
                "snapshot_absorbed": {"crm_id": "SF-10", "emails": ["ann@example.com"]},
                "split_at": datetime.now(UTC),
            },
        ]
    )
    report = await erase(store, bob["_id"], by="dpo")
    record = await store.collection("erasures").find_one({})
    assert record is not None
    hashes = set(record["identity_hashes"])
    for key in (
        email_key("bob@example.com"),
        crm_key("HS-7"),
        email_key("old@example.com"),
        crm_key("SF-9"),
    ):
        assert erasure_hash(key) in hashes, key
    assert erasure_hash(crm_key("SF-10")) not in hashes
    assert erasure_hash(email_key("ann@example.com")) not in hashes
    assert report.identity_hashes == len(hashes)
    assert "HS-7" not in await everything(store) and "SF-9" not in await everything(store)


async def scored_complaints(store: Database, posts: list[tuple[Mention, str]]) -> dict[str, Any]:
    """Store and score ``posts`` as complaints of the profiles named with them; their ids."""
    await store.mentions.upsert([post for post, _ in posts])
    claim = await store.queue.claim("test", limit=100, lease=timedelta(minutes=5))
    verdict = {"is_complaint": True, "score": 0.9, "category": "delivery", "reasons": [],
               "kind": "complaint"}  # fmt: skip
    await store.queue.save(
        claim,
        {doc["_id"]: sentiment("negative") for doc in claim.mentions},
        {doc["_id"]: verdict for doc in claim.mentions},
    )
    ids = {doc["external_id"]: doc["_id"] for doc in claim.mentions}
    for post, profile_id in posts:
        author = post.author.model_dump()
        await store.collection("mentions").update_one(
            {"_id": ids[post.external_id]},
            {"$set": {"profile_id": profile_id, "author_key": identity_key(post.source, author)}},
        )
    return ids


def complaint(external_id: str, text: str, author: Author) -> Mention:
    return Mention(
        source="reddit",
        external_id=external_id,
        brand="Acme",
        text=text,
        url=f"https://reddit.example/{external_id}",
        author=author,
        created_at=datetime.now(UTC) - timedelta(hours=1),
    )


async def test_erasing_someone_named_like_a_common_word_blanks_only_their_alerts(
    store: Database,
) -> None:
    """ "Complaint" (handle "acme"): their alerts are found by id and blanked, others' stay whole."""
    them = profile_doc("acme", source="reddit", author_id="t2_acme", display_name="Complaint")
    eve = profile_doc("eve", source="reddit", author_id="t2_eve", display_name="Eve")
    await store.collection("profiles").insert_many([them, eve])
    ids = await scored_complaints(
        store,
        [
            (
                complaint("c1", "Acme lost my parcel", Author(id="t2_acme", handle="acme")),
                them["_id"],
            ),
            (
                complaint("e1", "Complaint: acme support never answers", Author(id="t2_eve", handle="eve")),
                eve["_id"],
            ),
        ],
    )  # fmt: skip
    rule = AlertRuleConfig.model_validate(
        {"rule": "complaint", "name": "complaints", "destination": "slack"}
    )
    engine = AlertEngine(store.outbox, [rule], brands=["Acme"], dashboard_link="http://dash")
    assert await engine.run_once() == 2
    alerts = store.collection("alerts")
    theirs = await alerts.find_one({"dedupe_key": f"complaint:{ids['c1']}:complaints"})
    assert theirs is not None
    assert theirs["about"]["mentions"] == [str(ids["c1"])]
    assert theirs["about"]["profiles"] == [them["_id"]]
    assert "reddit:id:t2_acme" in theirs["about"]["authors"]
    # Alerts an older Goodwill wrote (no ``about``), and a digest listing both complaints.
    digest = {
        "kind": "digest",
        "brand": "Acme",
        "summary": "Daily digest for Acme: 2 complaints",
        "top_complaints": [
            {"mention_id": str(ids["c1"]), "text": "Acme lost my parcel"},
            {"mention_id": str(ids["e1"]), "text": "Complaint: acme support never answers"},
        ],
        "new_advocates": [{"profile_id": them["_id"], "name": "Complaint"}],
    }
    legacy = [
        ("tier", {"kind": "tier_change", "profile_id": them["_id"], "who": {"name": "Complaint"}}),
        ("handle", {"kind": "complaint", "source": "reddit", "mention_id": "gone",
                    "who": {"handle": "@ACME", "name": "Complaint"}}),
        ("other", {"kind": "complaint", "source": "reddit", "mention_id": "elsewhere",
                   "text": "acme acme Complaint", "who": {"handle": "acme_fan", "name": "Complaint"}}),
        ("other-source", {"kind": "complaint", "source": "hackernews", "mention_id": "hn",
                          "who": {"handle": "acme", "name": "Complaint"}}),
        ("spike", {"kind": "negative_spike", "summary": "Negative spike for Acme",
                   "top_posts": [{"mention_id": "x", "text": "Complaint: acme"}]}),
    ]  # fmt: skip
    for key, payload in [("digest", digest), *legacy]:
        await alerts.insert_one(
            {"dedupe_key": key, "rule": "r", "brand": "Acme", "destination": "slack",
             "created_at": datetime.now(UTC), "payload": payload, "state": "pending",
             "attempts": 0}
        )  # fmt: skip
    before = {doc["dedupe_key"]: doc async for doc in alerts.find({})}

    report = await erase(store, "reddit:acme", by="dpo")

    after = {doc["dedupe_key"]: doc async for doc in alerts.find({})}
    blanked = {key for key, doc in after.items() if doc["payload"] == {"erased": True}}
    assert blanked == {f"complaint:{ids['c1']}:complaints", "tier", "handle"}
    assert after["tier"]["state"] == "failed"
    for key in (f"complaint:{ids['e1']}:complaints", "other", "other-source", "spike"):
        assert after[key]["payload"] == before[key]["payload"], key
        assert after[key]["state"] == before[key]["state"], key
    kept = after["digest"]["payload"]
    assert kept["top_complaints"] == [digest["top_complaints"][1]]
    assert kept["new_advocates"] == [] and kept["summary"] == digest["summary"]
    assert after["digest"]["state"] == "pending"
    assert report.alerts == 4


async def test_a_persons_dead_letters_are_found_by_author_keys_or_exact_values(
    store: Database,
) -> None:
    """Export and erasure reach the dead letters by the person's keys, or (author unknown)
    by an exact handle or an email in the payload; others' and mere substrings stay."""
    await seed_bob(store)
    letters = store.cursors

    async def letter(source: str, payload: Any) -> None:
        await letters.dead_letter(source, "bad", payload, authors=author_keys(source, payload))

    await letter(
        "rss", {"feed": "https://blog.example/feed", "summary": "write to BOB@example.com."}
    )
    await letter("rss", {"entry": {"by": "@Bob_The_Fan", "title": None}})
    await letter(
        "jetstream", "not a JSON object at all: bob_the_fan"
    )  # unknown author, no exact value
    await letter(
        "rss", {"entry": {"title": "bob_the_fan is great", "note": "bob@example.community"}}
    )
    eves = {"kind": "t3", "data": {"author": "eve", "author_fullname": "t2_eve",
                                   "selftext": "thanks bob_the_fan, bob@example.com"}}  # fmt: skip
    await letter("reddit", eves)
    assert author_keys("reddit", eves) == ["reddit:eve", "reddit:id:t2_eve"]

    data = await export_data(store, "bob@example.com")
    assert len(data["dead_letters"]) == 3  # seed_bob's, the email and the exact handle
    report = await erase(store, "bob@example.com", by="dpo")
    assert report.dead_letters == 3
    left = [doc["payload"] async for doc in store.collection("dead_letters").find({})]
    assert sorted(map(str, left)) == sorted(
        map(
            str,
            [
                "not a JSON object at all: bob_the_fan",
                {"entry": {"title": "bob_the_fan is great", "note": "bob@example.community"}},
                eves,
            ],
        )
    )
