"""A person's data rights: see everything Goodwill holds about them, or have it erased.

A person is named by a *reference*: a profile id (``p_...``), an email, an identity key
(``reddit:id:t2_abc``) or ``source:handle`` (``reddit:bob``, ``mastodon:@bob@host``).
It resolves to one profile, or, for an author the scorer has not resolved into a profile
yet, to the bare identity found on their mentions. A reference that matches nothing, or
several profiles, is an error saying what to pass instead.

``export_data`` returns everything held, JSON-ready: the profile, its advocacy documents,
its mentions (text, author, scores, complaint handling), the corrections people made to
those mentions, the merges and merge proposals that involve it.

``erase`` removes the person:

* the profile, its advocacy documents, its merge proposals and the merges that involve
  it (their snapshots hold the person's names, handles and emails) are deleted;
* their mentions keep brand, source, created_at, url (the public post), sentiment and
  complaint verdicts, so counts and trends stay right, but lose ``author``,
  ``author_key``, ``profile_id`` and ``raw``, and are marked ``erased: true``; their text
  (and title, and the text fingerprint) is removed too unless ``keep_text``; the copies
  of that text in ``corrections`` follow the same rule;
* alerts whose payload names the person or their mentions get their payload replaced
  (and, if not yet sent, are not sent);
* an ``erasures`` document records *that* an erasure happened — when, by whom, how many
  mentions — and salted hashes of every identity and handle key, never a name, handle
  or email. ``Store.upsert_mentions`` and the CRM import check those hashes, so a later
  collection or import does not rebuild the person.

Erasure is not atomic (MongoDB gives no transactions we can rely on): the ``erasures``
document is written first, the profile deleted last, and every step is idempotent, so
an interrupted erasure is finished by running it again with the same reference.
Dead letters (payloads that could not be parsed) are not searched; they expire with
their collection's retention.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bson import ObjectId

from customers.profiles import ProfileStore
from goodwill.errors import PersonNotFound
from goodwill.identity import author_handle_key, erasure_hash, handle_key, identity_key
from goodwill.models import utcnow
from store import Database

__all__ = ["ErasureReport", "Person", "PersonNotFound", "erase", "export_data", "find_person"]

Document = dict[str, Any]

_HOW = (
    "Pass a profile id (p_...), an email, an identity key (reddit:id:t2_abc) "
    "or source:handle (reddit:bob)."
)


@dataclass
class Person:
    """Who a reference named: a profile (``None`` for an unresolved author) and their identities.

    Each identity is ``{source, id, handle}``; ``keys`` are every identity key and handle
    key known for the person (hashed into ``erasures`` on erasure).
    """

    reference: str
    profile: Document | None
    identities: list[Document] = field(default_factory=list)

    @property
    def profile_id(self) -> str | None:
        """The profile's id, if the person has a profile."""
        return None if self.profile is None else str(self.profile["_id"])

    def keys(self) -> set[str]:
        """Every identity key and handle key of the person."""
        found: set[str] = set()
        for identity in self.identities:
            source = str(identity.get("source") or "")
            for key in (identity.get("key"), identity.get("handle_key")):
                if key:
                    found.add(str(key))
            author = {"id": identity.get("id"), "handle": identity.get("handle")}
            if (key := identity_key(source, author)) is not None:
                found.add(key)
            if identity.get("handle"):
                found.add(handle_key(source, str(identity["handle"])))
        return found


@dataclass(frozen=True)
class ErasureReport:
    """What an erasure did."""

    profile_id: str | None
    mentions: int
    corrections: int
    advocacy: int
    proposals: int
    merges: int
    alerts: int
    identity_hashes: int
    kept_text: bool


async def find_person(store: Database, reference: str) -> Person:
    """Resolve a person reference (see the module docstring).

    Raises:
        PersonNotFound: nothing matches, or several profiles do (naming them).
    """
    ref = (reference or "").strip()
    if not ref:
        raise PersonNotFound(f"No person given. {_HOW}")
    bare: Document | None = None
    if ":" in ref:
        # An author Goodwill holds mentions of but no profile for (yet) is a person too.
        source, _, rest = ref.partition(":")
        source = source.strip().casefold()
        if rest.startswith("id:") and rest[3:].strip():
            bare = {"source": source, "id": rest[3:].strip(), "handle": None}
        elif rest.strip().lstrip("@"):
            bare = {"source": source, "id": None, "handle": rest.strip().lstrip("@")}
    matches = {doc["_id"]: doc for doc in await ProfileStore(store).matching(ref)}
    if len(matches) > 1:
        names = ", ".join(sorted(matches))
        raise PersonNotFound(
            f"{ref!r} matches {len(matches)} profiles ({names}); pass one profile id instead."
        )
    if matches:
        profile = next(iter(matches.values()))
        return Person(ref, profile, list(profile.get("identities") or []))
    if bare is not None:
        person = Person(ref, None, [bare])
        if await store.collection("mentions").count_documents(_mentions_query(person), limit=1):
            return person
    raise PersonNotFound(f"No profile or author matches {ref!r}. {_HOW}")


def _mentions_query(person: Person) -> Document:
    """Every mention by the person: by profile, by author key, or by the author's id or handle."""
    clauses: list[Document] = []
    if person.profile_id is not None:
        clauses.append({"profile_id": person.profile_id})
    keys = sorted(person.keys())
    if keys:
        clauses.append({"author_key": {"$in": keys}})
    for identity in person.identities:
        source = identity.get("source")
        if not source:
            continue
        if identity.get("id"):
            clauses.append({"source": source, "author.id": str(identity["id"])})
        if identity.get("handle"):
            handle = re.escape(str(identity["handle"]).lstrip("@"))
            clauses.append(
                {"source": source, "author.handle": {"$regex": f"^@?{handle}$", "$options": "i"}}
            )
    return {"$or": clauses} if clauses else {"_id": {"$in": []}}


async def _mentions(store: Database, person: Person) -> list[Document]:
    return [doc async for doc in store.collection("mentions").find(_mentions_query(person))]


def _plain(value: Any) -> Any:
    """A document as JSON can hold it: ids and dates as strings."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _involving(pid: str | None) -> Document:
    return {"$or": [{"a": pid}, {"b": pid}]} if pid else {"_id": {"$in": []}}


def _merged_with(pid: str | None) -> Document:
    return {"$or": [{"into": pid}, {"absorbed": pid}]} if pid else {"_id": {"$in": []}}


async def export_data(store: Database, person_ref: str) -> dict[str, Any]:
    """Everything Goodwill holds about a person, JSON-ready (see the module docstring).

    Raises:
        PersonNotFound: the reference matches no one, or several profiles.
    """
    person = await find_person(store, person_ref)
    pid = person.profile_id
    mentions = await _mentions(store, person)
    for mention in mentions:
        mention.pop("claim", None)
    ids = [m["_id"] for m in mentions]
    corrections = [
        doc async for doc in store.collection("corrections").find({"mention_id": {"$in": ids}})
    ]
    advocacy = (
        [doc async for doc in store.collection("advocacy").find({"profile_id": pid})] if pid else []
    )
    merges = [doc async for doc in store.collection("merges").find(_merged_with(pid))]
    proposals = [doc async for doc in store.collection("merge_proposals").find(_involving(pid))]
    exported: dict[str, Any] = _plain(
        {
            "reference": person.reference,
            "exported_at": utcnow(),
            "profile": person.profile,
            "identities": person.identities if person.profile is None else [],
            "advocacy": advocacy,
            "mentions": mentions,
            "corrections": corrections,
            "merges": merges,
            "merge_proposals": proposals,
        }
    )
    return exported


async def erase(
    store: Database, person_ref: str, by: str, keep_text: bool = False
) -> ErasureReport:
    """Erase a person (see the module docstring for what goes and what stays).

    Args:
        store: the open store.
        person_ref: who (profile id, email, identity key or source:handle).
        by: who asked for or carried out the erasure (recorded).
        keep_text: keep the text of their mentions (``settings.erase_keeps_text``).

    Raises:
        PersonNotFound: the reference matches no one, or several profiles.
        ValueError: no name given in ``by``.
    """
    who = (by or "").strip()
    if not who:
        raise ValueError("An erasure needs the name of who carries it out (--by).")
    person = await find_person(store, person_ref)
    pid = person.profile_id
    mentions_col = store.collection("mentions")
    found = [
        doc
        async for doc in mentions_col.find(
            _mentions_query(person), {"source": 1, "author": 1, "author_key": 1}
        )
    ]
    keys = person.keys()
    for doc in found:
        source = str(doc.get("source") or "")
        author = doc.get("author") or {}
        if doc.get("author_key"):
            keys.add(str(doc["author_key"]))
        for key in (identity_key(source, author), author_handle_key(source, author)):
            if key is not None:
                keys.add(key)
    hashes = sorted({erasure_hash(key) for key in keys})
    # Written first: from here on, a re-collected mention of this person arrives anonymous.
    record = await store.collection("erasures").insert_one(
        {"at": utcnow(), "by": who, "identity_hashes": hashes, "mentions": 0}
    )
    ids = [doc["_id"] for doc in found]
    strings = _strings(person, found)
    unset: Document = {"author": "", "author_key": "", "profile_id": "", "raw": ""}
    sets: Document = {"erased": True}
    if not keep_text:
        unset.update(title="", fingerprint="")
        sets["text"] = ""
    if ids:
        await mentions_col.update_many({"_id": {"$in": ids}}, {"$unset": unset, "$set": sets})
    corrected = 0
    if ids and not keep_text:
        result = await store.collection("corrections").update_many(
            {"mention_id": {"$in": ids}}, {"$set": {"text": "", "erased": True}}
        )
        corrected = result.matched_count
    alerts = await _scrub_alerts(store, pid, ids, strings)
    advocacy = proposals = merges = 0
    if pid is not None:
        advocacy = (
            await store.collection("advocacy").delete_many({"profile_id": pid})
        ).deleted_count
        proposals = (
            await store.collection("merge_proposals").delete_many(_involving(pid))
        ).deleted_count
        merges = (await store.collection("merges").delete_many(_merged_with(pid))).deleted_count
        await store.collection("profiles").delete_one({"_id": pid})
    await store.collection("erasures").update_one(
        {"_id": record.inserted_id}, {"$set": {"mentions": len(ids)}}
    )
    return ErasureReport(
        profile_id=pid,
        mentions=len(ids),
        corrections=corrected,
        advocacy=advocacy,
        proposals=proposals,
        merges=merges,
        alerts=alerts,
        identity_hashes=len(hashes),
        kept_text=keep_text,
    )


def _strings(person: Person, mentions: Iterable[Document]) -> set[str]:
    """Names, handles and emails of the person, as they may appear in other documents."""
    found: set[str] = set()
    profile = person.profile or {}
    for value in (profile.get("display_name"), *(profile.get("emails") or [])):
        if isinstance(value, str) and len(value.strip()) >= 3:
            found.add(value.strip())
    for identity in [*person.identities, *(m.get("author") or {} for m in mentions)]:
        for name in ("handle", "display_name", "id"):
            value = identity.get(name)
            if isinstance(value, str) and len(value.strip().lstrip("@")) >= 3:
                found.add(value.strip().lstrip("@"))
    return found


async def _scrub_alerts(
    store: Database, pid: str | None, mention_ids: list[Any], strings: set[str]
) -> int:
    """Replace the payload of alerts naming the person; an unsent one is not sent."""
    needles = {str(m) for m in mention_ids} | strings | ({pid} if pid else set())
    if not needles:
        return 0
    scrubbed = 0
    alerts = store.collection("alerts")
    async for doc in alerts.find({}, {"payload": 1, "state": 1}):
        text = json.dumps(_plain(doc.get("payload")), ensure_ascii=False).casefold()
        if not any(needle.casefold() in text for needle in needles):
            continue
        sets: Document = {"payload": {"erased": True}}
        if doc.get("state") in ("pending", "sending"):
            sets.update(state="failed", last_error="Not sent: the person it names was erased.")
        await alerts.update_one({"_id": doc["_id"]}, {"$set": sets})
        scrubbed += 1
    return scrubbed
