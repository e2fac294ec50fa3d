"""Customer profiles: the people behind mentions, their identities, and advocacy per brand.

Collections: ``profiles`` (one per person: identities across networks, emails, CRM
fields, counts), ``advocacy`` (one per person x brand), ``refresh_journal`` (advocacy
refreshes a scorer owes) and ``maintenance`` (the day's full recompute's marker). The
customer domain (``customers/``) decides what to write; this module only reads and writes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import (
    ASCENDING,
    DESCENDING,
    DeleteOne,
    IndexModel,
    InsertOne,
    ReplaceOne,
    ReturnDocument,
    UpdateOne,
)
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.cursor import AsyncCursor
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError

from goodwill.errors import StoreError
from goodwill.models import utcnow
from store._common import Document, translating_errors

__all__ = ["INDEXES", "IdentitySighting", "LeaderboardFilter", "Profiles", "RecomputeWrites"]

INDEXES: dict[str, list[IndexModel]] = {
    "profiles": [
        IndexModel([("identities.key", ASCENDING)], name="identity"),
        IndexModel([("identities.handle_key", ASCENDING)], name="handle"),
        IndexModel([("emails", ASCENDING)], name="emails"),
        IndexModel([("crm_id", ASCENDING)], name="crm_id"),
    ],
    "advocacy": [
        IndexModel([("brand", ASCENDING), ("score", DESCENDING)], name="brand_score"),
        IndexModel([("profile_id", ASCENDING)], name="profile"),
        IndexModel([("tier_changed_at", DESCENDING)], name="tier_changed"),
    ],
    # Advocacy refreshes a scorer owes (Profiles.journal_refresh).
    "refresh_journal": [IndexModel([("expires", ASCENDING)], name="expires")],
}


Pair = tuple[str, str]  # (profile_id, brand)

_BATCH = 10_000  # documents per cursor batch in a full recompute
_WRITE_CHUNK = 1_000  # operations per bulk write in a full recompute
_RECOMPUTE = "advocacy-recompute"  # the day's full recompute's marker in ``maintenance``
# What computing counts and advocacy reads of a mention (never its text or raw payload).
_ADVOCACY_INPUTS: Document = {
    "profile_id": 1,
    "brand": 1,
    "source": 1,
    "created_at": 1,
    "url": 1,
    "sentiment.label": 1,
    "sentiment.probabilities": 1,
    "complaint.is_complaint": 1,
    "counted": 1,
}
# A profile's fields that counts and advocacy derive from mentions (and identities).
_DERIVED_FIELDS: Document = {
    "identities.followers": 1,
    "counts": 1,
    "reach": 1,
    "first_seen": 1,
    "last_seen": 1,
}
# What merge proposals compare of two profiles.
_PROPOSAL_FIELDS: Document = {
    "display_name": 1,
    "emails": 1,
    "crm_id": 1,
    "crm_fields": 1,
    "identities.url": 1,
    "origin": 1,
    "created_at": 1,
}
# What a leaderboard shows of each row's profile.
_BOARD_FIELDS: Document = {
    "display_name": 1,
    "identities": 1,
    "reach": 1,
    "emails": 1,
    "do_not_contact": 1,
}


@dataclass(frozen=True)
class IdentitySighting:
    """What a batch of mentions changes of one identity a profile holds.

    ``fields`` are author fields to set (handle, display name, followers, URL);
    ``last_seen`` only ever moves the identity's last sighting later and ``first_seen``
    its first sighting earlier; ``None`` leaves that sighting alone.
    """

    profile_id: str
    key: str
    fields: Mapping[str, Any]
    last_seen: datetime | None = None
    first_seen: datetime | None = None


@dataclass(frozen=True)
class LeaderboardFilter:
    """Which of a brand's advocacy documents a leaderboard pages through (``None``: any)."""

    brand: str
    tier: str | None = None
    min_score: float | None = None
    max_score: float | None = None
    since: datetime | None = None  # last mention of the brand at or after this
    source: str | None = None  # mentioned the brand there

    def query(self) -> Document:
        """The advocacy query, every value a literal."""
        query: Document = {"brand": {"$eq": str(self.brand)}}
        if self.tier is not None:
            query["tier"] = {"$eq": str(self.tier)}
        score: Document = {}
        if self.min_score is not None:
            score["$gte"] = float(self.min_score)
        if self.max_score is not None:
            score["$lte"] = float(self.max_score)
        if score:
            query["score"] = score
        if self.since is not None:
            query["last_mention_at"] = {"$gte": self.since}
        if self.source is not None:
            query["sources"] = {"$eq": str(self.source)}
        return query


async def _streamed(cursor: AsyncCursor[Document], operation: str) -> AsyncIterator[Document]:
    """The cursor's documents, raising ``StoreError`` (not a driver error) as a coroutine would."""
    try:
        async for doc in cursor:
            yield doc
    except PyMongoError as error:
        raise StoreError(
            f"Database operation {operation} failed: {error.__class__.__name__}: {error}"
        ) from error


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


@translating_errors
class RecomputeWrites:
    """A full recompute's writes, sent unordered in chunks as they are queued: never all in memory."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._advocacy = _Writer(db.advocacy)
        self._profiles = _Writer(db.profiles)

    @property
    def written(self) -> int:
        """How many documents were written so far."""
        return self._advocacy.written + self._profiles.written

    async def insert_advocacy(self, doc: Document) -> None:
        """Queue a new advocacy document; if a scorer wrote the same ``_id`` meanwhile, it is replaced."""
        await self._advocacy.insert(doc)

    async def replace_advocacy(self, doc: Document) -> None:
        """Queue an advocacy document that replaces the stored one (same ``_id``)."""
        await self._advocacy.add(ReplaceOne({"_id": doc["_id"]}, doc))

    async def remove_advocacy(self, doc_id: str) -> None:
        """Queue the deletion of an advocacy document."""
        await self._advocacy.add(DeleteOne({"_id": doc_id}))

    async def set_derived(self, profile_id: str, fields: Document) -> None:
        """Queue setting a profile's derived fields (counts, reach, first and last seen)."""
        await self._profiles.add(UpdateOne({"_id": profile_id}, {"$set": fields}))

    async def flush(self) -> None:
        """Send what is queued."""
        await self._advocacy.flush()
        await self._profiles.flush()


@translating_errors
class Profiles:
    """Queries of ``profiles``, ``advocacy``, ``refresh_journal`` and ``maintenance``."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._db = db

    # -- one profile, and the profiles a reference names (customers/profiles.py) ------------

    async def get(self, profile_id: str) -> Document | None:
        """The profile with this id (matched as a literal, never an operator), or None."""
        return await self._db.profiles.find_one({"_id": {"$eq": profile_id}})

    async def exists(self, profile_id: str) -> bool:
        """Whether a profile has this id."""
        found = await self._db.profiles.find_one({"_id": {"$eq": profile_id}}, {"_id": 1})
        return found is not None

    async def named_by(
        self,
        *,
        email: str | None = None,
        identity_key: str | None = None,
        handle_key: str | None = None,
        limit: int | None = None,
    ) -> list[Document]:
        """The profiles holding this email, identity key or handle key (each a literal), at most ``limit``."""
        given = (("emails", email), ("identities.key", identity_key))
        queries = [{path: {"$eq": value}} for path, value in given if value is not None]
        if handle_key is not None:
            queries.append({"identities.handle_key": {"$eq": handle_key}})
        # One query per kind of key, not one ``$or``: the embedded server scans for the latter.
        matches: dict[str, Document] = {}
        for query in queries:
            async for doc in self._db.profiles.find(query):
                matches.setdefault(doc["_id"], doc)
                if limit is not None and len(matches) >= limit:
                    return list(matches.values())
        return list(matches.values())

    # -- resolving authors (customers/resolution.py) ----------------------------------------

    async def holding_identities(self, keys: Sequence[str]) -> list[Document]:
        """The profiles holding any of these identity keys: their identities and display name."""
        query: Document = {"identities.key": {"$in": list(keys)}}
        cursor = self._db.profiles.find(query, {"identities": 1, "display_name": 1})
        return [doc async for doc in cursor]

    async def knowing_handles_only(self, handle_keys: Sequence[str]) -> list[Document]:
        """Profiles holding an identity with one of these handle keys and no account id (a CRM row's)."""
        wanted: Document = {"handle_key": {"$in": list(handle_keys)}, "id": None}
        cursor = self._db.profiles.find({"identities": {"$elemMatch": wanted}}, {"identities": 1})
        return [doc async for doc in cursor]

    async def add_identity(self, profile_id: str, identity: Mapping[str, Any]) -> None:
        """Give a profile an identity, unless it holds that identity's key already."""
        await self._db.profiles.update_one(
            {"_id": profile_id, "identities.key": {"$ne": identity["key"]}},
            {"$push": {"identities": dict(identity)}},
        )

    async def create(self, profiles: Sequence[Document]) -> None:
        """Insert new profiles; one whose ``_id`` exists already is left as it is.

        A collected profile's id derives from its identity key, so two scorers meeting
        the same new author at once both insert it: the second insert is refused, and
        both converge on one profile.
        """
        if not profiles:
            return
        try:
            await self._db.profiles.insert_many(list(profiles), ordered=False)
        except BulkWriteError as error:
            if any(e.get("code") != 11000 for e in error.details.get("writeErrors", ())):
                raise

    async def record_sightings(
        self, sightings: Sequence[IdentitySighting], names: Mapping[str, str]
    ) -> None:
        """Refresh identities from what a batch of mentions saw, and name nameless profiles.

        ``names`` gives each profile (by id) a display name, where it has none yet.
        """
        ops: list[UpdateOne] = []
        for seen in sightings:
            update: Document = {}
            if seen.fields:
                update["$set"] = {f"identities.$.{name}": v for name, v in seen.fields.items()}
            if seen.last_seen is not None:
                update["$max"] = {"identities.$.last_seen": seen.last_seen}
            if seen.first_seen is not None:
                update["$min"] = {"identities.$.first_seen": seen.first_seen}
            if update:
                ops.append(UpdateOne({"_id": seen.profile_id, "identities.key": seen.key}, update))
        ops.extend(
            UpdateOne({"_id": profile_id, "display_name": None}, {"$set": {"display_name": name}})
            for profile_id, name in names.items()
        )
        if ops:
            await self._db.profiles.bulk_write(ops, ordered=False)

    # -- counts and advocacy (customers/profiles.py) -----------------------------------------

    async def with_followers(self, profile_ids: Iterable[str]) -> dict[str, Document]:
        """Those of these profiles that exist, by id, with their identities' followers only."""
        query: Document = {"_id": {"$in": list(profile_ids)}}
        cursor = self._db.profiles.find(query, {"identities.followers": 1})
        return {doc["_id"]: doc async for doc in cursor}

    def advocacy_inputs(
        self, profile_ids: Iterable[str] | None = None, brand: str | None = None
    ) -> AsyncIterator[Document]:
        """Streams what counts and advocacy read of mentions (never text or raw payload).

        The mentions of these profiles (of every profile by default), about ``brand`` if given.
        """
        query: Document = {
            "profile_id": {"$exists": True} if profile_ids is None else {"$in": list(profile_ids)}
        }
        if brand is not None:
            query["brand"] = {"$eq": brand}
        cursor = self._db.mentions.find(query, _ADVOCACY_INPUTS).batch_size(_BATCH)
        return _streamed(cursor, "advocacy_inputs")

    async def count_resolved_mentions(self) -> int:
        """How many mentions are tied to a profile."""
        return await self._db.mentions.count_documents({"profile_id": {"$exists": True}})

    async def advocacy_of_profiles(self, profile_ids: Iterable[str]) -> dict[str, Document]:
        """The advocacy documents of these profiles, by id (``"<profile id>|<brand>"``)."""
        cursor = self._db.advocacy.find({"profile_id": {"$in": list(profile_ids)}})
        return {doc["_id"]: doc async for doc in cursor}

    async def write_advocacy(self, documents: Sequence[Document], removed: Sequence[str]) -> None:
        """Write these advocacy documents whole (by ``_id``) and delete those ``removed`` (ids)."""
        ops: list[ReplaceOne[Document] | DeleteOne] = [
            ReplaceOne({"_id": doc["_id"]}, doc, upsert=True) for doc in documents
        ]
        ops.extend(DeleteOne({"_id": doc_id}) for doc_id in removed)
        if ops:
            await self._db.advocacy.bulk_write(ops, ordered=False)

    async def set_derived(self, fields: Mapping[str, Document]) -> None:
        """Set profiles' fields derived from their mentions (profile id -> fields)."""
        ops = [UpdateOne({"_id": pid}, {"$set": dict(values)}) for pid, values in fields.items()]
        if ops:
            await self._db.profiles.bulk_write(ops, ordered=False)

    def derived_fields(self) -> AsyncIterator[Document]:
        """Streams every profile's derived fields (counts, reach, first/last seen) and followers."""
        cursor = self._db.profiles.find({}, _DERIVED_FIELDS).batch_size(_BATCH)
        return _streamed(cursor, "derived_fields")

    def all_advocacy(self) -> AsyncIterator[Document]:
        """Streams every advocacy document."""
        return _streamed(self._db.advocacy.find({}).batch_size(_BATCH), "all_advocacy")

    def recompute_writes(self) -> RecomputeWrites:
        """The writes of a full recompute, sent in chunks as they are queued."""
        return RecomputeWrites(self._db)

    async def claim_daily_recompute(self, as_of: datetime, owner: str, lease: timedelta) -> str:
        """Claim the day's full recompute: ``"claimed"`` (run it), ``"done"`` or ``"held"``.

        The claim is a lease that ``renew_daily_recompute`` extends and
        ``finish_daily_recompute`` ends; a holder that dies leaves a lease that runs
        out, and the next to ask takes the day again (``"held"`` until then).
        """
        now = utcnow()
        try:
            # Matches an older day's marker, or this day's whose holder died before it was
            # done (taken); or finds none and inserts it (taken); a live or finished marker
            # of this day makes the upsert's insert fail.
            await self._db.maintenance.find_one_and_update(
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
            marker = await self._db.maintenance.find_one({"_id": _RECOMPUTE}) or {}
            # A marker without ``done`` was written before leases existed: it counts as done.
            return "held" if marker.get("done") is False else "done"
        return "claimed"

    async def renew_daily_recompute(self, as_of: datetime, owner: str, lease: timedelta) -> None:
        """Keep the day's recompute claimed while working on it."""
        await self._db.maintenance.update_one(
            {"_id": _RECOMPUTE, "as_of": as_of, "owner": owner},
            {"$set": {"lease_expires": utcnow() + lease}},
        )

    async def finish_daily_recompute(self, as_of: datetime, owner: str) -> None:
        """The day's recompute is complete: nobody runs it again today."""
        await self._db.maintenance.update_one(
            {"_id": _RECOMPUTE, "as_of": as_of, "owner": owner},
            {"$set": {"done": True, "finished_at": utcnow()}},
        )

    async def journal_refresh(self, token: str, pairs: Iterable[Pair], expires: datetime) -> None:
        """Note, before a batch's scores are written, whose advocacy it will refresh.

        ``end_refresh`` removes the note once the refresh is done; a scorer that dies in
        between leaves it until ``expires``, and ``take_overdue_refresh`` hands it on.
        """
        await self._db.refresh_journal.replace_one(
            {"_id": token},
            {"pairs": [list(pair) for pair in sorted(set(pairs))], "expires": expires},
            upsert=True,
        )

    async def end_refresh(self, token: str) -> None:
        """The batch ``token``'s advocacy refresh is done."""
        await self._db.refresh_journal.delete_one({"_id": token})

    async def take_overdue_refresh(
        self, now: datetime, lease: timedelta
    ) -> tuple[str, list[Pair]] | None:
        """Take for ``lease`` one noted refresh that expired before ``now``: its token and pairs.

        One note at a time, so two repairers never share one; None when none is overdue.
        """
        note = await self._db.refresh_journal.find_one_and_update(
            {"expires": {"$lt": now}},
            {"$set": {"expires": utcnow() + lease}},
            return_document=ReturnDocument.AFTER,
        )
        if note is None:
            return None
        return note["_id"], [(str(profile), str(brand)) for profile, brand in note["pairs"]]

    # -- reading (customers/profiles.py) ----------------------------------------------------

    async def tiers(self, pairs: Iterable[Pair]) -> dict[Pair, str]:
        """The advocacy tier of each (profile, brand) that has one, in one query."""
        ids = sorted({f"{profile_id}|{brand}" for profile_id, brand in pairs})
        if not ids:
            return {}
        return {
            (doc["profile_id"], doc["brand"]): doc["tier"]
            async for doc in self._db.advocacy.find(
                {"_id": {"$in": ids}}, {"profile_id": 1, "brand": 1, "tier": 1}
            )
        }

    async def advocacy_of(self, profile_id: str) -> list[Document]:
        """A profile's advocacy documents, one per brand, highest score first."""
        cursor = self._db.advocacy.find({"profile_id": {"$eq": profile_id}})
        return sorted([doc async for doc in cursor], key=lambda doc: (-doc["score"], doc["brand"]))

    async def leaderboard(
        self, board: LeaderboardFilter, *, lowest_first: bool, limit: int, offset: int
    ) -> list[Document]:
        """One page of advocacy documents, each with its profile's name, identities and reach.

        Highest score first (lowest first if asked), ties by id. Two queries: the page,
        then its profiles.
        """
        cursor = (
            self._db.advocacy.find(board.query())
            .sort([("score", ASCENDING if lowest_first else DESCENDING), ("_id", ASCENDING)])
            .skip(max(offset, 0))
            .limit(max(limit, 0))
        )
        page = [doc async for doc in cursor]
        wanted: Document = {"_id": {"$in": [doc["profile_id"] for doc in page]}}
        people = {doc["_id"]: doc async for doc in self._db.profiles.find(wanted, _BOARD_FIELDS)}
        for doc in page:
            person = people.get(doc["profile_id"], {})
            doc["display_name"] = person.get("display_name")
            doc["identities"] = person.get("identities", [])
            doc["reach"] = person.get("reach", 0)
            doc["do_not_contact"] = bool(person.get("do_not_contact"))
        return page

    async def leaderboard_count(self, board: LeaderboardFilter) -> int:
        """How many advocacy documents ``leaderboard`` pages through."""
        return await self._db.advocacy.count_documents(board.query())

    # -- merges and proposals (customers/merges.py) ------------------------------------------

    async def absorb(
        self,
        into: str,
        *,
        identities: Sequence[Document],
        emails: Sequence[str],
        tags: Sequence[str],
        fields: Mapping[str, Any],
        crm_fields: Mapping[str, Any],
        at: datetime,
    ) -> None:
        """Give a merge's surviving profile what it takes from the absorbed one.

        Adds ``identities``, and ``emails`` and ``tags`` it lacks; sets ``fields`` and,
        one by one, ``crm_fields``.
        """
        update: Document = {
            "$set": {
                **fields,
                **{f"crm_fields.{name}": value for name, value in crm_fields.items()},
                "updated_at": at,
            },
            "$push": {"identities": {"$each": list(identities)}},
        }
        if emails or tags:
            update["$addToSet"] = {
                name: {"$each": list(values)}
                for name, values in (("emails", emails), ("tags", tags))
                if values
            }
        await self._db.profiles.update_one({"_id": into}, update)

    async def give_back(
        self,
        into: str,
        *,
        identity_keys: Sequence[str],
        emails: Sequence[str],
        tags: Sequence[str],
        fields: Mapping[str, Any],
        unset: Sequence[str],
        unset_crm_fields: Sequence[str],
        at: datetime,
    ) -> None:
        """Take back from a merge's surviving profile what the merge gave it (a split).

        Removes the identities with ``identity_keys``, ``emails`` and ``tags``; sets
        ``fields`` (values it had before) and removes the ``unset`` fields and CRM fields.
        """
        update: Document = {
            "$set": {"updated_at": at, **fields},
            "$pull": {
                "identities": {"key": {"$in": list(identity_keys)}},
                "emails": {"$in": list(emails)},
                "tags": {"$in": list(tags)},
            },
        }
        removed = {name: "" for name in unset}
        removed.update({f"crm_fields.{name}": "" for name in unset_crm_fields})
        if removed:
            update["$unset"] = removed
        await self._db.profiles.update_one({"_id": into}, update)

    async def delete(self, profile_id: str) -> None:
        """Delete a profile (absorbed by a merge)."""
        await self._db.profiles.delete_one({"_id": profile_id})

    async def restore(self, profile: Document) -> bool:
        """Insert a profile that a split gives back; False when a profile took its id meanwhile."""
        try:
            await self._db.profiles.insert_one(profile)
        except DuplicateKeyError:
            return False
        return True

    async def proposal_fields(self) -> dict[str, Document]:
        """Every profile by id, with what merge proposals compare: names, emails, CRM, URLs, age."""
        cursor = self._db.profiles.find({}, _PROPOSAL_FIELDS).batch_size(_BATCH)
        return {doc["_id"]: doc async for doc in cursor}

    # -- advocate exports (customers/exports.py) --------------------------------------------

    async def brand_advocacy(
        self,
        brand: str,
        *,
        min_score: float | None = None,
        tier: str | None = None,
        since: datetime | None = None,
    ) -> list[Document]:
        """``brand``'s advocacy documents, highest score first (ties by profile id).

        Only those scoring at least ``min_score``, of ``tier``, and whose last mention of
        the brand is at or after ``since``, for each of them that is given.
        """
        query: Document = {"brand": {"$eq": str(brand)}}
        if min_score is not None:
            query["score"] = {"$gte": float(min_score)}
        if tier is not None:
            query["tier"] = {"$eq": str(tier)}
        if since is not None:
            query["last_mention_at"] = {"$gte": since}
        docs = [doc async for doc in self._db.advocacy.find(query)]
        docs.sort(key=lambda doc: (-float(doc.get("score") or 0), str(doc.get("profile_id"))))
        return docs

    async def contactable(self, profile_ids: Sequence[str]) -> dict[str, Document]:
        """The profiles of ``profile_ids`` that may be contacted (not ``do_not_contact``), by id."""
        query: Document = {"_id": {"$in": list(profile_ids)}, "do_not_contact": {"$ne": True}}
        return {doc["_id"]: doc async for doc in self._db.profiles.find(query)}

    # -- CRM import (customers/crm) ---------------------------------------------------------

    async def matching_crm_rows(
        self, *, crm_ids: Sequence[str], emails: Sequence[str], handle_keys: Sequence[str]
    ) -> dict[str, Document]:
        """Every profile holding one of ``crm_ids``, ``emails`` or ``handle_keys``, by id."""
        docs: dict[str, Document] = {}
        # One query per key kind: the embedded server serves each $in from its index, an $or by a scan.
        for path, values in (
            ("crm_id", crm_ids),
            ("emails", emails),
            ("identities.handle_key", handle_keys),
        ):
            if values:
                async for doc in self._db.profiles.find({path: {"$in": list(values)}}):
                    docs[doc["_id"]] = doc
        return docs

    async def write_crm_batch(
        self, created: Sequence[Document], updates: Mapping[str, Document]
    ) -> None:
        """Insert the ``created`` profiles and apply ``updates`` (profile id -> update).

        One unordered bulk write; the CRM import makes every write idempotent, so a
        batch interrupted half-way is completed by importing the file again.
        """
        writes: list[InsertOne[Document] | UpdateOne] = [InsertOne(doc) for doc in created]
        writes.extend(UpdateOne({"_id": pid}, update) for pid, update in updates.items())
        if writes:
            await self._db.profiles.bulk_write(writes, ordered=False)
