"""Customer profiles: who wrote each mention, their counts, their advocacy per brand, merges.

A *profile* is one person, holding one or more *identities* (accounts on sources).
The scorer resolves each mention's author to a profile (creating one for a new
author), then recomputes, exactly and from the mentions themselves, the advocacy of
the (profile, brand) pairs a batch touched (``customers/advocacy.py`` has the formula).
A full recompute streams every mention once and gives the same numbers.

People merge profiles that are one person, and split a merge that was wrong; a split
restores the absorbed profile as it was (same id, identities, mentions and scores).
Merge proposals come from shared emails, or a shared name with a linked profile URL;
only a shared CRM record id merges on its own.

Collections (see the data contract): ``profiles``, ``advocacy``, ``merges``,
``merge_proposals``; ``mentions.author_key`` and ``mentions.profile_id``; ``erasures``
is read so that an erased person is never rebuilt from new mentions.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import (
    ASCENDING,
    DESCENDING,
    DeleteOne,
    InsertOne,
    ReplaceOne,
    ReturnDocument,
    UpdateOne,
)
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from customers.advocacy import (
    Advocacy,
    AdvocacyParams,
    AdvocacyTally,
    add_exact,
    as_of_for,
    recency_weight,
    result_of,
    signal_of,
)
from customers.merges import Merges, ProposalRun
from goodwill.identity import (
    ADVOCACY_TIERS,
    author_handle_key,
    erasure_hash,
    handle_key,
    identity_key,
)
from goodwill.models import utcnow
from store import Database
from store._common import translating_errors

__all__ = ["ProfileStore", "ProposalRun", "RecomputeStats", "TierChange", "collected_profile_id"]

Document = dict[str, Any]
Pair = tuple[str, str]  # (profile_id, brand)

_BATCH = 10_000  # documents per cursor batch and per bulk write in a full recompute
_WRITE_CHUNK = 1_000
_RECOMPUTE = "advocacy-recompute"  # the day's full recompute's marker in ``maintenance``
# What computing counts and advocacy reads of a mention (never its text or raw payload).
_MENTION_FIELDS: Document = {
    "profile_id": 1,
    "brand": 1,
    "source": 1,
    "created_at": 1,
    "url": 1,
    "sentiment.label": 1,
    "sentiment.probabilities": 1,
    "complaint.is_complaint": 1,
}
_COUNT_NAMES = ("mentions", "scored", "positive", "neutral", "negative", "complaints")
_ZERO_COUNTS: dict[str, int] = dict.fromkeys(_COUNT_NAMES, 0)


@dataclass(frozen=True)
class TierChange:
    """A profile's advocacy tier for a brand changed (``old`` is None for a first score)."""

    profile_id: str
    brand: str
    old: str | None
    new: str
    score: float


@dataclass(frozen=True)
class RecomputeStats:
    """What a full recompute did."""

    mentions: int  # resolved mentions read
    profiles: int  # profiles whose counts were recomputed (all of them)
    advocacy: int  # (profile, brand) scores computed
    removed: int  # advocacy documents deleted (their pair has no scored mention left)
    tier_changes: int
    written: int = 0  # documents written (those whose numbers did not change are not)


def collected_profile_id(key: str) -> str:
    """The id of the profile created for a newly seen identity: derived from its key.

    Deterministic, so two scorers that meet the same new author at once create one
    profile, not two: the second insert is refused as a duplicate and both converge.
    """
    return "p_" + hashlib.sha256(b"goodwill-profile:" + key.encode("utf-8")).hexdigest()[:16]


class _PairTally:
    """One (profile, brand)'s scored mentions, accumulated in any order."""

    __slots__ = (
        "complaints",
        "last",
        "mentions",
        "negative",
        "neutral",
        "positive",
        "sources",
        "weighted",
        "weights",
    )

    def __init__(self) -> None:
        self.weighted: list[float] = []  # exact partial sums (customers.advocacy.add_exact)
        self.weights: list[float] = []
        self.mentions = self.positive = self.neutral = self.negative = self.complaints = 0
        self.last: tuple[datetime, ObjectId, str | None] | None = None
        self.sources: list[str] = []


class _ProfileTally:
    """One profile's counts over all brands (every resolved mention, scored or not)."""

    __slots__ = ("counts", "first", "last")

    def __init__(self) -> None:
        self.counts = [0] * len(_COUNT_NAMES)  # in _COUNT_NAMES order: a list is small
        self.first: datetime | None = None
        self.last: datetime | None = None


class _Tallies:
    """Counts per profile and advocacy sums per (profile, brand), from mention documents."""

    def __init__(self, as_of: datetime, params: AdvocacyParams) -> None:
        self.as_of = as_of
        self.params = params
        self.profiles: dict[str, _ProfileTally] = {}
        self.pairs: dict[Pair, _PairTally] = {}
        self.read = 0

    def add(self, doc: Mapping[str, Any]) -> None:
        """Count one mention document (projected with ``_MENTION_FIELDS``)."""
        self.read += 1
        profile_id: str = doc["profile_id"]
        created: datetime = doc["created_at"]
        person = self.profiles.get(profile_id)
        if person is None:
            person = self.profiles[profile_id] = _ProfileTally()
        person.counts[0] += 1
        if person.first is None or created < person.first:
            person.first = created
        if person.last is None or created > person.last:
            person.last = created
        signal = signal_of(doc)
        if signal is None:
            return  # not scored (waiting, or skipped as another language)
        label = (doc.get("sentiment") or {}).get("label")
        complaint = bool((doc.get("complaint") or {}).get("is_complaint"))
        person.counts[1] += 1
        if label in ("positive", "neutral", "negative"):
            person.counts[_COUNT_NAMES.index(label)] += 1
        person.counts[5] += complaint
        key = (profile_id, doc["brand"])
        pair = self.pairs.get(key)
        if pair is None:
            pair = self.pairs[key] = _PairTally()
        weight = recency_weight(created, self.as_of, self.params.half_life_days)
        add_exact(pair.weighted, weight * signal)
        add_exact(pair.weights, weight)
        pair.mentions += 1
        if label == "positive":
            pair.positive += 1
        elif label == "neutral":
            pair.neutral += 1
        elif label == "negative":
            pair.negative += 1
        pair.complaints += complaint
        last = (created, doc["_id"], doc.get("url"))
        if pair.last is None or last[:2] > pair.last[:2]:
            pair.last = last
        if doc.get("source") not in pair.sources:
            pair.sources.append(doc["source"])

    def advocacy(self, pair: _PairTally, reach: int) -> Advocacy:
        """The pair's advocacy for a person with ``reach`` followers."""
        return result_of(math.fsum(pair.weighted), math.fsum(pair.weights), reach, self.params)


def _reach(profile: Mapping[str, Any]) -> int:
    """The most followers known over a profile's identities (0 when none is known)."""
    return max((int(i.get("followers") or 0) for i in profile.get("identities") or ()), default=0)


def _advocacy_doc(
    key: Pair,
    pair: _PairTally,
    result: Advocacy,
    as_of: datetime,
    old: Mapping[str, Any] | None,
    now: datetime,
) -> tuple[Document, TierChange | None]:
    """The advocacy document of a pair, carrying its tier history forward from ``old``."""
    profile_id, brand = key
    assert pair.last is not None  # a pair tally exists only once it has a scored mention
    old_tier = old.get("tier") if old else None
    changed = old_tier != result.tier if old else result.tier != "neutral"
    doc: Document = {
        "_id": f"{profile_id}|{brand}",
        "profile_id": profile_id,
        "brand": brand,
        "score": result.score,
        "tier": result.tier,
        "love": result.love,
        "reach_factor": result.reach_factor,
        "mentions": pair.mentions,
        "positive": pair.positive,
        "neutral": pair.neutral,
        "negative": pair.negative,
        "complaints": pair.complaints,
        "sources": sorted(pair.sources),
        "last_mention_at": pair.last[0],
        "last_mention_id": pair.last[1],
        "last_mention_url": pair.last[2],
        "as_of": as_of,
        "previous_tier": old_tier if changed else (old or {}).get("previous_tier"),
        "tier_changed_at": now if changed else (old or {}).get("tier_changed_at"),
        "updated_at": now,
    }
    change = TierChange(profile_id, brand, old_tier, result.tier, result.score) if changed else None
    return doc, change


# A profile's fields that counts and advocacy derive from mentions (and identities).
_DERIVED_FIELDS: Document = {
    "identities.followers": 1,
    "counts": 1,
    "reach": 1,
    "first_seen": 1,
    "last_seen": 1,
}
# An advocacy document's fields that depend on mentions (not when it was computed).
_ADVOCACY_NUMBERS = (
    "score",
    "tier",
    "love",
    "reach_factor",
    "mentions",
    "positive",
    "neutral",
    "negative",
    "complaints",
    "sources",
    "last_mention_at",
    "last_mention_id",
    "last_mention_url",
)


def _derived(doc: Mapping[str, Any]) -> tuple[Any, ...]:
    """A profile's derived fields, comparable between a stored and a recomputed profile."""
    counts = doc.get("counts") or {}
    return (
        tuple(counts.get(name) for name in _ZERO_COUNTS),
        doc.get("reach"),
        doc.get("first_seen"),
        doc.get("last_seen"),
    )


def _advocacy_digest(doc: Mapping[str, Any]) -> bytes:
    """A 128-bit digest of an advocacy document's numbers (``repr`` of floats is exact)."""
    numbers = repr(tuple(doc.get(name) for name in _ADVOCACY_NUMBERS)).encode("utf-8")
    return hashlib.blake2b(numbers, digest_size=16).digest()


def _profile_fields(tally: _ProfileTally | None, reach: int, now: datetime) -> Document:
    """The ``$set`` of a profile's derived fields."""
    return {
        "counts": dict(zip(_COUNT_NAMES, tally.counts, strict=True))
        if tally
        else dict(_ZERO_COUNTS),
        "reach": reach,
        "first_seen": tally.first if tally else None,
        "last_seen": tally.last if tally else None,
        "updated_at": now,
    }


def _new_profile(key: str, sighting: _Sighting, now: datetime) -> Document:
    """A profile for an identity seen for the first time."""
    return {
        "_id": collected_profile_id(key),
        "display_name": sighting.author.get("display_name") or sighting.author.get("handle"),
        "identities": [sighting.identity(key)],
        "emails": [],
        "crm_id": None,
        "crm_system": None,
        "crm_fields": {},
        "value": None,
        "tier": None,
        "tags": [],
        "do_not_contact": False,
        "reach": int(sighting.author.get("followers") or 0),
        "counts": dict(_ZERO_COUNTS),
        "first_seen": None,
        "last_seen": None,
        "origin": "collected",
        "created_at": now,
        "updated_at": now,
    }


@dataclass(frozen=True)
class _Stored:
    """An identity as its profile holds it, and whether that profile has a display name."""

    identity: Mapping[str, Any]
    named: bool


def _sighting_update(sighting: _Sighting, identity: Mapping[str, Any] | None) -> Document:
    """The positional update an identity needs after ``sighting`` (empty: none)."""
    identity = identity or {}
    last, first = identity.get("last_seen"), identity.get("first_seen")
    update: Document = {}
    newest = last is None or (sighting.last is not None and sighting.last >= last)
    if newest:
        fields = {
            f"identities.$.{name}": sighting.author[name]
            for name in ("handle", "display_name", "followers", "url")
            if name in sighting.author and identity.get(name) != sighting.author[name]
        }
        if fields:
            update["$set"] = fields
        if sighting.last != last:
            update["$max"] = {"identities.$.last_seen": sighting.last}
    if first is None or (sighting.first is not None and sighting.first < first):
        update["$min"] = {"identities.$.first_seen": sighting.first}
    return update


class _Sighting:
    """What one batch of mentions says about one identity (its latest author fields)."""

    def __init__(self, source: str, handle_key: str | None) -> None:
        self.source = source
        self.handle_key = handle_key
        self.author: dict[str, Any] = {}
        self.first: datetime | None = None
        self.last: datetime | None = None

    def see(self, author: Mapping[str, Any], created: datetime) -> None:
        """Take one mention: the newest mention's non-empty author fields win."""
        newest = self.last is None or created >= self.last
        if self.first is None or created < self.first:
            self.first = created
        if newest:
            self.last = created
        for name in ("id", "handle", "display_name", "followers", "url"):
            value = author.get(name)
            if value is not None and (newest or name not in self.author):
                self.author[name] = value

    def identity(self, key: str) -> Document:
        """The identity entry of a new identity."""
        return {
            "key": key,
            "handle_key": self.handle_key,
            "source": self.source,
            "id": self.author.get("id"),
            "handle": self.author.get("handle"),
            "url": self.author.get("url"),
            "display_name": self.author.get("display_name"),
            "followers": self.author.get("followers"),
            "first_seen": self.first,
            "last_seen": self.last,
        }


@translating_errors
class ProfileStore:
    """Profiles, advocacy, merges and merge proposals, over one ``Database``.

    Every public method raises ``StoreError`` (never a driver error) when the database
    is unreachable or refuses, and ``ValueError`` naming what to pass instead when a
    reference or a request is wrong.
    """

    def __init__(self, store: Database, params: AdvocacyParams | None = None) -> None:
        self.store = store
        self.params = params or AdvocacyParams()

    @property
    def _profiles(self) -> AsyncCollection[Document]:
        return self.store.collection("profiles")

    @property
    def _mentions(self) -> AsyncCollection[Document]:
        return self.store.collection("mentions")

    @property
    def _advocacy(self) -> AsyncCollection[Document]:
        return self.store.collection("advocacy")

    @property
    def _merges(self) -> AsyncCollection[Document]:
        return self.store.collection("merges")

    @property
    def _proposals(self) -> AsyncCollection[Document]:
        return self.store.collection("merge_proposals")

    # -- resolving authors --------------------------------------------------------------

    async def resolve(self, mentions: Sequence[Mapping[str, Any]]) -> dict[Any, str]:
        """Tie each mention's author to a profile; returns ``{mention _id: profile id}``.

        Finds the profile holding the author's identity (or, for an account the CRM
        named by handle only, the profile holding that handle), else creates one;
        refreshes the identity's followers, names and last sighting; sets the mentions'
        ``author_key`` and ``profile_id``. A mention whose author was erased is not
        resolved: its author fields are removed instead. Mentions naming no author
        are left alone.
        """
        sightings: dict[str, _Sighting] = {}
        keyed: list[tuple[Mapping[str, Any], str]] = []
        for doc in mentions:
            author = doc.get("author") or {}
            key = identity_key(doc["source"], author)
            if key is None:
                continue
            hk = author_handle_key(doc["source"], author)
            sighting = sightings.get(key)
            if sighting is None:
                sighting = sightings[key] = _Sighting(doc["source"], hk)
            sighting.see(author, doc["created_at"])
            keyed.append((doc, key))
        if not keyed:
            return {}
        erased = await self._erased_keys(sightings)
        if erased:
            await self._strip_erased([doc["_id"] for doc, key in keyed if key in erased])
        wanted = {key: s for key, s in sightings.items() if key not in erased}
        owners, stored = await self._owners(wanted)
        await self._record_sightings(wanted, owners, stored)
        resolved = {doc["_id"]: owners[key] for doc, key in keyed if key in owners}
        ops = [
            UpdateOne({"_id": doc["_id"]}, {"$set": {"author_key": key, "profile_id": owners[key]}})
            for doc, key in keyed
            if key in owners
            and (doc.get("author_key"), doc.get("profile_id")) != (key, owners[key])  # re-scored
        ]
        if ops:
            await self._mentions.bulk_write(ops, ordered=False)
        return resolved

    async def _erased_keys(self, sightings: Mapping[str, _Sighting]) -> set[str]:
        """The identity keys (of these) whose identity or handle was erased."""
        hashes: dict[str, str] = {}
        for key, sighting in sightings.items():
            hashes[erasure_hash(key)] = key
            if sighting.handle_key:
                hashes[erasure_hash(sighting.handle_key)] = key
        found: set[str] = set()
        cursor = self.store.collection("erasures").find(
            {"identity_hashes": {"$in": list(hashes)}}, {"identity_hashes": 1}
        )
        async for doc in cursor:
            found.update(hashes[h] for h in doc.get("identity_hashes") or () if h in hashes)
        return found

    async def _strip_erased(self, mention_ids: list[Any]) -> None:
        await self._mentions.update_many(
            {"_id": {"$in": mention_ids}},
            {"$unset": {"author": "", "author_key": "", "raw": "", "profile_id": ""}},
        )

    async def _owners(
        self, sightings: Mapping[str, _Sighting]
    ) -> tuple[dict[str, str], dict[str, _Stored]]:
        """The profile of each identity (found by key, by a CRM handle, or created), and what is stored of it."""
        stored: dict[str, _Stored] = {}
        owners = await self._by_identity_key(list(sightings), stored)
        missing = {key: s for key, s in sightings.items() if key not in owners}
        if missing:
            owners.update(await self._claim_crm_handles(missing))
        now = utcnow()
        new = [_new_profile(k, s, now) for k, s in sightings.items() if k not in owners]
        if new:
            try:
                await self._profiles.insert_many(new, ordered=False)
            except BulkWriteError as error:
                # Another scorer created the same profile (same derived id) first: converge.
                if any(e.get("code") != 11000 for e in error.details.get("writeErrors", ())):
                    raise
            created = [doc["identities"][0]["key"] for doc in new]
            owners.update(await self._by_identity_key(created, stored))
        return owners, stored

    async def _by_identity_key(self, keys: list[str], stored: dict[str, _Stored]) -> dict[str, str]:
        """The profile holding each identity key; fills ``stored`` with what it holds of it."""
        owners: dict[str, str] = {}
        wanted = set(keys)
        fields = {"identities": 1, "display_name": 1}
        async for doc in self._profiles.find({"identities.key": {"$in": keys}}, fields):
            for identity in doc.get("identities") or ():
                key = identity.get("key")
                if key in wanted and key not in owners:
                    owners[key] = doc["_id"]
                    stored[key] = _Stored(identity, bool(doc.get("display_name")))
        return owners

    async def _claim_crm_handles(self, sightings: Mapping[str, _Sighting]) -> dict[str, str]:
        """Attach identities to profiles that know the account by handle only (a CRM row)."""
        by_handle = {s.handle_key: key for key, s in sightings.items() if s.handle_key}
        if not by_handle:
            return {}
        owners: dict[str, str] = {}
        query = {"identities": {"$elemMatch": {"handle_key": {"$in": list(by_handle)}, "id": None}}}
        async for doc in self._profiles.find(query, {"identities": 1}):
            for identity in doc.get("identities") or ():
                key = by_handle.get(identity.get("handle_key") or "")
                if key and identity.get("id") is None and key not in owners:
                    owners[key] = doc["_id"]
        for key, profile_id in owners.items():
            await self._profiles.update_one(
                {"_id": profile_id, "identities.key": {"$ne": key}},
                {"$push": {"identities": sightings[key].identity(key)}},
            )
        return owners

    async def _record_sightings(
        self,
        sightings: Mapping[str, _Sighting],
        owners: Mapping[str, str],
        stored: Mapping[str, _Stored],
    ) -> None:
        """Refresh identities from what the batch saw: first/last sightings, and the newest
        author fields (never an older sighting's: re-scoring old posts keeps today's followers)."""
        ops: list[UpdateOne] = []
        for key, sighting in sightings.items():
            if key not in owners:
                continue
            known = stored.get(key)
            update = _sighting_update(sighting, known.identity if known else None)
            if update:
                ops.append(UpdateOne({"_id": owners[key], "identities.key": key}, update))
            name = sighting.author.get("display_name") or sighting.author.get("handle")
            if name and not (known and known.named):
                ops.append(
                    UpdateOne(
                        {"_id": owners[key], "display_name": None}, {"$set": {"display_name": name}}
                    )
                )
        if ops:
            await self._profiles.bulk_write(ops, ordered=False)

    # -- counts and advocacy --------------------------------------------------------------

    async def refresh(
        self,
        pairs: Iterable[Pair] | None = None,
        as_of: datetime | None = None,
        *,
        profiles: Iterable[str] = (),
    ) -> list[TierChange]:
        """Recompute exactly, from their mentions, the advocacy of ``pairs`` and the counts of their profiles.

        ``profiles`` adds every brand of those profiles (after a merge or a split). A
        pair with no scored mention left (or whose profile is gone) loses its advocacy
        document. ``as_of`` defaults to the end of today (UTC). Returns the tier
        changes, which the documents also record (``previous_tier``, ``tier_changed_at``).
        """
        as_of = as_of or as_of_for(utcnow())
        targets = set(pairs or ())
        whole = set(profiles)
        ids = sorted({profile_id for profile_id, _ in targets} | whole)
        if not ids:
            return []
        people = {
            doc["_id"]: doc
            async for doc in self._profiles.find({"_id": {"$in": ids}}, {"identities.followers": 1})
        }
        tallies = _Tallies(as_of, self.params)
        async for doc in self._mentions.find({"profile_id": {"$in": ids}}, _MENTION_FIELDS):
            tallies.add(doc)
        existing = {
            doc["_id"]: doc async for doc in self._advocacy.find({"profile_id": {"$in": ids}})
        }
        targets.update(key for key in tallies.pairs if key[0] in whole)
        targets.update(
            (doc["profile_id"], doc["brand"])
            for doc in existing.values()
            if doc["profile_id"] in whole
        )
        now = utcnow()
        writes: list[ReplaceOne[Document] | DeleteOne] = []
        changes: list[TierChange] = []
        for key in sorted(targets):
            doc_id = f"{key[0]}|{key[1]}"
            pair = tallies.pairs.get(key)
            if pair is None or key[0] not in people:
                if doc_id in existing:
                    writes.append(DeleteOne({"_id": doc_id}))
                continue
            result = tallies.advocacy(pair, _reach(people[key[0]]))
            doc, change = _advocacy_doc(key, pair, result, as_of, existing.get(doc_id), now)
            writes.append(ReplaceOne({"_id": doc_id}, doc, upsert=True))
            if change:
                changes.append(change)
        if writes:
            await self._advocacy.bulk_write(writes, ordered=False)
        counts = [
            UpdateOne(
                {"_id": profile_id},
                {"$set": _profile_fields(tallies.profiles.get(profile_id), _reach(doc), now)},
            )
            for profile_id, doc in people.items()
        ]
        if counts:
            await self._profiles.bulk_write(counts, ordered=False)
        return changes

    async def claim_daily_recompute(
        self, as_of: datetime, owner: str, lease: timedelta = timedelta(minutes=10)
    ) -> str:
        """Ask for the day's full recompute: ``"claimed"`` (run it), ``"done"`` or ``"held"``.

        Recency weights are measured to the end of the day, so every score moves a little
        each day even for people who said nothing new; one scorer (of however many) takes
        the day's ``recompute_all`` through this atomic claim. The claim is a lease: the
        holder renews it while it works (``renew_daily_recompute``) and marks the day done
        at the end (``finish_daily_recompute``). A holder that dies leaves a lease that
        runs out, and the next scorer to ask takes the day again (``"held"`` until then).
        """
        now = utcnow()
        markers = self.store.collection("maintenance")
        try:
            # Matches an older day's marker, or this day's whose holder died before it was
            # done (taken); or finds none and inserts it (taken); a live or finished marker
            # of this day makes the upsert's insert fail.
            await markers.find_one_and_update(
                {
                    "_id": _RECOMPUTE,
                    "$or": [
                        {"as_of": {"$lt": as_of}},
                        {"as_of": as_of, "done": False, "lease_expires": {"$lt": now}},
                    ],
                },
                {
                    "$set": {
                        "as_of": as_of,
                        "claimed_at": now,
                        "owner": owner,
                        "lease_expires": now + lease,
                        "done": False,
                    }
                },
                upsert=True,
            )
        except DuplicateKeyError:
            marker = await markers.find_one({"_id": _RECOMPUTE}) or {}
            # A marker without ``done`` was written before leases existed: it counts as done.
            return "held" if marker.get("done") is False else "done"
        return "claimed"

    async def renew_daily_recompute(
        self, as_of: datetime, owner: str, lease: timedelta = timedelta(minutes=10)
    ) -> None:
        """Keep the day's recompute claimed while working on it."""
        await self.store.collection("maintenance").update_one(
            {"_id": _RECOMPUTE, "as_of": as_of, "owner": owner},
            {"$set": {"lease_expires": utcnow() + lease}},
        )

    async def finish_daily_recompute(self, as_of: datetime, owner: str) -> None:
        """The day's recompute is complete: nobody runs it again today."""
        await self.store.collection("maintenance").update_one(
            {"_id": _RECOMPUTE, "as_of": as_of, "owner": owner},
            {"$set": {"done": True, "finished_at": utcnow()}},
        )

    async def journal_refresh(self, token: str, pairs: Iterable[Pair], expires: datetime) -> None:
        """Note, before a batch's scores are written, whose advocacy it will refresh.

        The note is removed once ``refresh`` has run (``end_refresh``); a scorer that dies
        in between leaves it, and ``repair_refreshes`` does the refresh for it.
        """
        await self.store.collection("refresh_journal").replace_one(
            {"_id": token},
            {"pairs": [list(pair) for pair in sorted(set(pairs))], "expires": expires},
            upsert=True,
        )

    async def end_refresh(self, token: str) -> None:
        """The batch ``token``'s advocacy refresh is done."""
        await self.store.collection("refresh_journal").delete_one({"_id": token})

    async def repair_refreshes(
        self, now: datetime | None = None, lease: timedelta = timedelta(minutes=5)
    ) -> int:
        """Refresh the advocacy that dead scorers left undone; returns how many batches."""
        now = now or utcnow()
        journal = self.store.collection("refresh_journal")
        repaired = 0
        while True:
            # Take one expired note at a time, so two repairers never share one.
            note = await journal.find_one_and_update(
                {"expires": {"$lt": now}},
                {"$set": {"expires": utcnow() + lease}},
                return_document=ReturnDocument.AFTER,
            )
            if note is None:
                return repaired
            await self.refresh((str(profile), str(brand)) for profile, brand in note["pairs"])
            await journal.delete_one({"_id": note["_id"]})
            repaired += 1

    async def recompute_all(
        self,
        as_of: datetime | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> RecomputeStats:
        """Recompute every profile's counts and every advocacy document, reading each mention once.

        Streams the resolved mentions (only the fields the formula needs), sums in
        memory a few floats per (profile, brand), then bulk-writes what changed (a
        document whose numbers are the same is left as it is, its ``as_of`` included).
        Gives exactly the numbers ``refresh`` gives. ``progress(done, total)`` is told
        of mentions read.
        """
        as_of = as_of or as_of_for(utcnow())
        resolved: Document = {"profile_id": {"$exists": True}}
        total = await self._mentions.count_documents(resolved) if progress else 0
        # Per profile: its reach, and its derived fields as stored (to skip unchanged ones).
        people: dict[str, tuple[int, tuple[Any, ...]]] = {}
        async for doc in self._profiles.find({}, _DERIVED_FIELDS).batch_size(_BATCH):
            people[doc["_id"]] = (_reach(doc), _derived(doc))
        tallies = _Tallies(as_of, self.params)
        cursor = self._mentions.find(resolved, _MENTION_FIELDS).batch_size(_BATCH)
        async for doc in cursor:
            if doc["profile_id"] in people:
                tallies.add(doc)
            if progress and tallies.read % _BATCH == 0:
                progress(tallies.read, total)
        if progress:
            progress(tallies.read, total)
        existing: dict[str, Document] = {}
        async for doc in self._advocacy.find({}).batch_size(_BATCH):
            existing[doc["_id"]] = {
                "digest": _advocacy_digest(doc),
                "tier": doc.get("tier"),
                "previous_tier": doc.get("previous_tier"),
                "tier_changed_at": doc.get("tier_changed_at"),
            }
        now = utcnow()
        changed = 0
        advocacy = _Writer(self._advocacy)  # written as they come: never all in memory
        for key, pair in tallies.pairs.items():
            doc_id = f"{key[0]}|{key[1]}"
            old = existing.pop(doc_id, None)
            result = tallies.advocacy(pair, people[key[0]][0])
            doc, change = _advocacy_doc(key, pair, result, as_of, old, now)
            changed += change is not None
            if old is None:
                await advocacy.insert(doc)
            elif old["digest"] != _advocacy_digest(doc):  # unchanged documents are not rewritten
                await advocacy.add(ReplaceOne({"_id": doc_id}, doc))
        for doc_id in existing:
            await advocacy.add(DeleteOne({"_id": doc_id}))
        await advocacy.flush()
        profiles = _Writer(self._profiles)
        for profile_id, (followers, stored) in people.items():
            fields = _profile_fields(tallies.profiles.get(profile_id), followers, now)
            if _derived(fields) != stored:
                await profiles.add(UpdateOne({"_id": profile_id}, {"$set": fields}))
        await profiles.flush()
        return RecomputeStats(
            mentions=tallies.read,
            profiles=len(people),
            advocacy=len(tallies.pairs),
            removed=len(existing),
            tier_changes=changed,
            written=advocacy.written + profiles.written,
        )

    # -- reading ------------------------------------------------------------------------

    async def matching(self, ref: str, limit: int | None = None) -> list[Document]:
        """The profiles a person reference names (several when ambiguous), at most ``limit``.

        A reference is a profile id (``p_...``), an email, an identity key
        (``reddit:id:t2_abc``) or ``source:handle``; anything else names no one. Every
        part is matched as a literal value, never as an operator.
        """
        text = ref.strip() if isinstance(ref, str) else ""
        if not text:
            return []
        if text.startswith("p_"):
            found = await self._profiles.find_one({"_id": {"$eq": text}})
            if found is not None:
                return [found]
        queries: list[Document] = []
        if EMAIL.match(text) and ":" not in text:
            queries.append({"emails": {"$eq": text.casefold()}})
        elif ":" in text:
            source, _, rest = text.partition(":")
            queries.append({"identities.key": {"$eq": text}})
            if not rest.startswith("id:") and rest.strip().lstrip("@"):
                queries.append({"identities.handle_key": {"$eq": handle_key(source, rest)}})
        # One query per kind of key, not one ``$or``: the embedded server scans for the latter.
        matches: dict[str, Document] = {}
        for query in queries:
            async for doc in self._profiles.find(query):
                matches.setdefault(doc["_id"], doc)
                if limit is not None and len(matches) >= limit:
                    return list(matches.values())
        return list(matches.values())

    async def get(self, ref: str) -> Document:
        """The profile a person reference names: a profile id, an email, ``source:handle`` or an identity key.

        Raises:
            ValueError: nothing matches, or several profiles do (the message lists them).
        """
        text = ref.strip() if isinstance(ref, str) else ""
        if not text:
            raise ValueError(_HOW_TO_NAME)
        matches = await self.matching(text, limit=11)
        if not matches:
            raise ValueError(f"No profile matches {text!r}. {_HOW_TO_NAME}")
        if len(matches) > 1:
            names = ", ".join(
                f"{doc['_id']} ({doc.get('display_name') or 'no name'})" for doc in matches[:10]
            )
            raise ValueError(
                f"{text!r} names {len(matches) if len(matches) <= 10 else 'more than 10'} profiles: "
                f"{names}. Pass one profile id, or merge them if they are one person."
            )
        return matches[0]

    async def tiers(self, pairs: Iterable[Pair]) -> dict[Pair, str]:
        """The advocacy tier of each (profile, brand) that has one, in one query."""
        ids = sorted({f"{profile_id}|{brand}" for profile_id, brand in pairs})
        if not ids:
            return {}
        return {
            (doc["profile_id"], doc["brand"]): doc["tier"]
            async for doc in self._advocacy.find(
                {"_id": {"$in": ids}}, {"profile_id": 1, "brand": 1, "tier": 1}
            )
        }

    async def advocacy_of(self, profile_id: str) -> list[Document]:
        """A profile's advocacy documents, one per brand, highest score first."""
        cursor = self._advocacy.find({"profile_id": {"$eq": profile_id}})
        return sorted([doc async for doc in cursor], key=lambda doc: (-doc["score"], doc["brand"]))

    async def profile_mentions(
        self, profile_id: str, limit: int = 20, offset: int = 0
    ) -> list[Document]:
        """A profile's mentions, newest first (raw payloads left out)."""
        cursor = (
            self._mentions.find({"profile_id": {"$eq": profile_id}}, {"raw": 0, "claim": 0})
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .skip(max(offset, 0))
            .limit(max(limit, 0))
        )
        return [doc async for doc in cursor]

    async def score_history(self, profile_id: str, brand: str) -> list[tuple[datetime, float]]:
        """The profile's score for ``brand`` as of the end of each day it mentioned the brand.

        Each point is computed with the formula over the mentions up to that day, aged to
        that day's end, with the profile's current reach.
        """
        profile = await self._profiles.find_one(
            {"_id": {"$eq": profile_id}}, {"identities.followers": 1}
        )
        if profile is None:
            raise ValueError(f"No profile has the id {profile_id!r}.")
        cursor = self._mentions.find(
            {"profile_id": {"$eq": profile_id}, "brand": {"$eq": brand}}, _MENTION_FIELDS
        )
        scored = sorted(
            [(doc["created_at"], s) async for doc in cursor if (s := signal_of(doc)) is not None],
            key=lambda item: item[0],
        )
        history: list[tuple[datetime, float]] = []
        for day_end in sorted({as_of_for(created) for created, _ in scored}):
            tally = AdvocacyTally(day_end, self.params)
            for created, signal in scored:
                if created >= day_end:
                    break
                tally.add(created, signal)
            history.append((day_end - _ONE_DAY, tally.result(_reach(profile)).score))
        return history

    async def leaderboard(
        self,
        brand: str,
        *,
        tier: str | None = None,
        min_score: float | None = None,
        max_score: float | None = None,
        since: datetime | None = None,
        source: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Document]:
        """One page of a brand's advocacy documents, each with its profile's name, identities and reach.

        Advocates (and no tier) come highest score first, detractors lowest first.
        ``since`` keeps people who mentioned the brand since then; ``source`` people who
        mentioned it there. Two queries: the page, then its profiles.
        """
        query = _leaderboard_query(brand, tier, min_score, max_score, since, source)
        direction = ASCENDING if tier == "detractor" else DESCENDING
        cursor = (
            self._advocacy.find(query)
            .sort([("score", direction), ("_id", ASCENDING)])
            .skip(max(offset, 0))
            .limit(max(limit, 0))
        )
        page = [doc async for doc in cursor]
        fields = {"display_name": 1, "identities": 1, "reach": 1, "emails": 1, "do_not_contact": 1}
        people = {
            doc["_id"]: doc
            async for doc in self._profiles.find(
                {"_id": {"$in": [d["profile_id"] for d in page]}}, fields
            )
        }
        for doc in page:
            person = people.get(doc["profile_id"], {})
            doc["display_name"] = person.get("display_name")
            doc["identities"] = person.get("identities", [])
            doc["reach"] = person.get("reach", 0)
            doc["do_not_contact"] = bool(person.get("do_not_contact"))
        return page

    async def leaderboard_count(
        self,
        brand: str,
        *,
        tier: str | None = None,
        min_score: float | None = None,
        max_score: float | None = None,
        since: datetime | None = None,
        source: str | None = None,
    ) -> int:
        """How many advocacy documents ``leaderboard`` pages through with these filters."""
        query = _leaderboard_query(brand, tier, min_score, max_score, since, source)
        return await self._advocacy.count_documents(query)

    # -- merges and proposals (customers/merges.py) ---------------------------------------

    async def merge(
        self, into: str, absorbed: str, by: str, reason: str = "", automatic: bool = False
    ) -> Document:
        """Make ``absorbed`` part of ``into`` (one person); returns the merge record. See ``Merges.merge``."""
        return await Merges(self).merge(into, absorbed, by, reason, automatic)

    async def split(self, ref: str, by: str) -> Document:
        """Undo a merge named by its id or by the profile it absorbed. See ``Merges.split``."""
        return await Merges(self).split(ref, by)

    async def merges(self, profile_id: str | None = None) -> list[Document]:
        """Merge records (of one profile, as either side), newest first, without snapshots."""
        return await Merges(self).records(profile_id)

    async def proposals(self, by: str = "goodwill") -> ProposalRun:
        """Propose merges of profiles that look like one person; merge those sharing a CRM id."""
        return await Merges(self).proposals(by)

    async def list_proposals(self, state: str = "open") -> list[Document]:
        """Merge proposals in ``state`` (open, accepted or rejected), newest first."""
        return await Merges(self).list_proposals(state)

    async def reject_proposal(self, proposal_id: str, by: str) -> Document:
        """Reject an open proposal: the pair is never proposed again."""
        return await Merges(self).reject_proposal(proposal_id, by)

    async def accept_proposal(self, proposal_id: str, by: str) -> Document:
        """Accept an open proposal: merge the pair; returns the merge record."""
        return await Merges(self).accept_proposal(proposal_id, by)


#: What an email in a person reference looks like (no colon: that is a source:handle).
EMAIL = re.compile(r"^[^@\s:]+@[^@\s:]+\.[^@\s:]+$")
_HOW_TO_NAME = (
    "Name a person by profile id (p_...), email (jane@example.com), "
    "source:handle (twitter:jane) or identity key (twitter:id:123)."
)
_ONE_DAY = timedelta(days=1)


def _leaderboard_query(
    brand: str,
    tier: str | None,
    min_score: float | None,
    max_score: float | None,
    since: datetime | None,
    source: str | None,
) -> Document:
    query: Document = {"brand": {"$eq": str(brand)}}
    if tier is not None:
        if tier not in ADVOCACY_TIERS:
            raise ValueError(f"Tier must be one of {', '.join(ADVOCACY_TIERS)}; got {tier!r}.")
        query["tier"] = {"$eq": tier}
    score: Document = {}
    if min_score is not None:
        score["$gte"] = float(min_score)
    if max_score is not None:
        score["$lte"] = float(max_score)
    if score:
        query["score"] = score
    if since is not None:
        query["last_mention_at"] = {"$gte": since}
    if source is not None:
        query["sources"] = {"$eq": str(source)}
    return query


class _Writer:
    """Bulk writes to one collection, sent unordered in chunks as operations are added."""

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection
        self.pending: list[Any] = []
        self.inserted: dict[int, Document] = {}  # index in ``pending`` -> inserted document
        self.written = 0

    async def add(self, operation: Any) -> None:
        """Queue one write; a full chunk is sent."""
        self.pending.append(operation)
        if len(self.pending) >= _WRITE_CHUNK:
            await self.flush()

    async def insert(self, doc: Document) -> None:
        """Queue an insert; if a scorer wrote the same ``_id`` meanwhile, it is replaced instead."""
        self.inserted[len(self.pending)] = doc
        await self.add(InsertOne(doc))

    async def flush(self) -> None:
        """Send what is queued."""
        if not self.pending:
            return
        try:
            await self.collection.bulk_write(self.pending, ordered=False)
        except BulkWriteError as error:
            failed = error.details.get("writeErrors", ())
            if any(e.get("code") != 11000 or e.get("index") not in self.inserted for e in failed):
                raise
            retry = [self.inserted[e["index"]] for e in failed]
            await self.collection.bulk_write(
                [ReplaceOne({"_id": doc["_id"]}, doc, upsert=True) for doc in retry], ordered=False
            )
        self.written += len(self.pending)
        self.pending = []
        self.inserted = {}
