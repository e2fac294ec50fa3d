"""Merging profiles that are one person, splitting a wrong merge, and merge proposals.

A merge keeps snapshots of both profiles in ``merges``, so a split restores the
absorbed profile as it was: same id, identities (as they are now), emails, tags,
the fields it lent, and its identities' mentions; both sides are then recomputed
(``ProfileStore.refresh``), so their scores are what they were. A split pair is never
merged or proposed again; nor is a rejected proposal.

Proposals come from a shared email, or the same display name where one profile's
account URL appears on the other (an identity's or a CRM field's URL); only a shared
CRM record id merges on its own. ``ProfileStore`` exposes all of this as its methods.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from goodwill.models import utcnow
from store._common import translating_errors

if TYPE_CHECKING:
    from customers.profiles import ProfileStore

__all__ = ["Merges", "ProposalRun"]

Document = dict[str, Any]
_BATCH = 10_000
# Profile fields a merge fills from the absorbed profile where the surviving one has none.
_FILLABLE = ("display_name", "crm_id", "crm_system", "value", "tier")
_PROPOSAL_STATES = ("open", "accepted", "rejected")


@dataclass(frozen=True)
class ProposalRun:
    """What a search for merge candidates found and did."""

    proposed: list[Document]  # open proposals created or given a new reason
    merged: list[Document]  # merge records of automatic merges (same CRM record id)


@translating_errors
class Merges:
    """Merges, splits and merge proposals of one ``ProfileStore``'s profiles."""

    def __init__(self, profiles: ProfileStore) -> None:
        self.profiles = profiles

    @property
    def _profiles(self) -> AsyncCollection[Document]:
        return self.profiles.store.collection("profiles")

    @property
    def _mentions(self) -> AsyncCollection[Document]:
        return self.profiles.store.collection("mentions")

    @property
    def _merges(self) -> AsyncCollection[Document]:
        return self.profiles.store.collection("merges")

    @property
    def _proposals(self) -> AsyncCollection[Document]:
        return self.profiles.store.collection("merge_proposals")

    # -- merging and splitting ----------------------------------------------------------

    async def merge(
        self, into: str, absorbed: str, by: str, reason: str = "", automatic: bool = False
    ) -> Document:
        """Make ``absorbed`` part of ``into``: one person. Returns the merge record.

        ``into`` keeps its values; it takes the absorbed profile's identities, emails,
        tags, CRM fields, and the fields it lacks. The absorbed profile's mentions move
        to ``into``, the absorbed profile is deleted, and both are recomputed. The record
        keeps snapshots of both, so ``split`` can undo it.

        Raises:
            ValueError: the same profile twice, an unknown profile, or no name.
        """
        who = _who(by)
        if into == absorbed:
            raise ValueError(f"Cannot merge {into} with itself; pass two different profiles.")
        keep = await self._profiles.find_one({"_id": {"$eq": into}})
        gone = await self._profiles.find_one({"_id": {"$eq": absorbed}})
        for ref, doc in ((into, keep), (absorbed, gone)):
            if doc is None:
                raise ValueError(
                    f"No profile has the id {ref!r}; `goodwill profiles show` finds one."
                )
        assert keep is not None and gone is not None
        have = {identity["key"] for identity in keep.get("identities") or ()}
        moved = [i for i in gone.get("identities") or () if i["key"] not in have]
        moved_emails = [e for e in gone.get("emails") or () if e not in (keep.get("emails") or ())]
        moved_tags = [t for t in gone.get("tags") or () if t not in (keep.get("tags") or ())]
        filled = {
            name: gone[name]
            for name in _FILLABLE
            if keep.get(name) in (None, "") and gone.get(name) not in (None, "")
        }
        if gone.get("do_not_contact") and not keep.get("do_not_contact"):
            filled["do_not_contact"] = True  # consent: either one's "no" stands
        if gone.get("origin") == "crm" and keep.get("origin") != "crm":
            filled["origin"] = "crm"
        keep_fields = keep.get("crm_fields") or {}
        filled_crm = {
            k: v for k, v in (gone.get("crm_fields") or {}).items() if k not in keep_fields
        }
        record: Document = {
            "_id": ObjectId(),
            "into": into,
            "absorbed": absorbed,
            "at": utcnow(),
            "by": who,
            "reason": (reason or "").strip(),
            "automatic": automatic,
            "snapshot_into": keep,
            "snapshot_absorbed": gone,
            "moved_identities": [i["key"] for i in moved],
            "moved_emails": moved_emails,
            "moved_tags": moved_tags,
            "filled": filled,
            "filled_crm_fields": filled_crm,
            "split_at": None,
            "split_by": None,
        }
        await self._merges.insert_one(record)
        update: Document = {
            "$set": {
                **filled,
                **{f"crm_fields.{k}": v for k, v in filled_crm.items()},
                "updated_at": record["at"],
            },
            "$push": {"identities": {"$each": moved}},
        }
        if moved_emails or moved_tags:
            update["$addToSet"] = {
                name: {"$each": values}
                for name, values in (("emails", moved_emails), ("tags", moved_tags))
                if values
            }
        await self._profiles.update_one({"_id": into}, update)
        await self._profiles.delete_one({"_id": absorbed})
        # After the delete: a mention resolved to the absorbed profile meanwhile moves too.
        await self._mentions.update_many({"profile_id": absorbed}, {"$set": {"profile_id": into}})
        await self.profiles.refresh(profiles=[into, absorbed])
        await self._proposals.update_many(
            {"_id": _pair_id(into, absorbed), "state": "open"},
            {"$set": {"state": "accepted", "decided_by": who, "decided_at": record["at"]}},
        )
        return record

    async def split(self, ref: str, by: str) -> Document:
        """Undo a merge, named by its id or by the profile it absorbed. Returns the merge record.

        The absorbed profile comes back with its id, its identities (as they are now),
        emails, tags and the fields it lent, and the mentions of its identities; both
        profiles are recomputed.

        Raises:
            ValueError: an unknown merge, one already split, or one whose identities
                have since left the surviving profile (a later merge or an erasure).
        """
        who = _who(by)
        record = await self._merge_record(ref)
        if record.get("split_at") is not None:
            raise ValueError(
                f"Merge {record['_id']} was already split on {record['split_at']:%Y-%m-%d %H:%M} "
                f"by {record.get('split_by')}."
            )
        into, absorbed = record["into"], record["absorbed"]
        current = await self._profiles.find_one({"_id": into})
        if current is None:
            later = await self._merges.find_one({"absorbed": into, "split_at": None})
            hint = f" Split merge {later['_id']} first." if later else ""
            raise ValueError(
                f"Profile {into} no longer exists, so merge {record['_id']} cannot be split.{hint}"
            )
        now_on = {i["key"]: i for i in current.get("identities") or ()}
        moved = record.get("moved_identities") or []
        left = [key for key in moved if key not in now_on]
        if left:
            raise ValueError(
                f"Cannot split merge {record['_id']}: identities {', '.join(left)} have since left "
                f"profile {into} (a later merge or an erasure). Split the later merge first."
            )
        if await self._profiles.find_one({"_id": absorbed}, {"_id": 1}) is not None:
            raise ValueError(
                f"A profile with the id {absorbed} exists again; merge {record['_id']} cannot be split."
            )
        restored = dict(record["snapshot_absorbed"])
        restored["identities"] = [now_on[key] for key in moved]
        restored["updated_at"] = utcnow()
        try:
            await self._profiles.insert_one(restored)
        except DuplicateKeyError:
            raise ValueError(
                f"A profile with the id {absorbed} was created meanwhile; merge {record['_id']} cannot be split."
            ) from None
        await self._profiles.update_one(
            {"_id": into}, _unmerge(record, current, restored["updated_at"])
        )
        await self._mentions.update_many(
            {"profile_id": into, "author_key": {"$in": moved}}, {"$set": {"profile_id": absorbed}}
        )
        await self._merges.update_one(
            {"_id": record["_id"]}, {"$set": {"split_at": restored["updated_at"], "split_by": who}}
        )
        await self.profiles.refresh(profiles=[into, absorbed])
        record.update(split_at=restored["updated_at"], split_by=who)
        return record

    async def _merge_record(self, ref: str) -> Document:
        """The merge a reference names: its id, or the (latest unsplit) merge that absorbed a profile."""
        text = ref.strip() if isinstance(ref, str) else ""
        try:
            found = await self._merges.find_one({"_id": ObjectId(text)})
        except InvalidId:
            found = None
        if found is not None:
            return found
        cursor = self._merges.find({"$or": [{"absorbed": text}, {"into": text}]})
        merges = sorted([doc async for doc in cursor], key=lambda doc: doc["at"], reverse=True)
        absorbed = [m for m in merges if m["absorbed"] == text]
        if absorbed:
            open_ = [m for m in absorbed if m.get("split_at") is None]
            return (open_ or absorbed)[0]
        into = [m for m in merges if m.get("split_at") is None]
        if len(into) == 1:
            return into[0]
        if into:
            ids = ", ".join(str(m["_id"]) for m in into)
            raise ValueError(f"Profile {text} absorbed several profiles; pass one merge id: {ids}.")
        raise ValueError(
            f"No merge matches {text!r}. Pass a merge id (24 hex digits) or the id of a profile that was merged away."
        )

    async def records(self, profile_id: str | None = None) -> list[Document]:
        """Merge records (of one profile, as either side), newest first, without their snapshots."""
        query: Document = (
            {} if profile_id is None else {"$or": [{"into": profile_id}, {"absorbed": profile_id}]}
        )
        cursor = self._merges.find(query, {"snapshot_into": 0, "snapshot_absorbed": 0})
        return sorted([doc async for doc in cursor], key=lambda doc: doc["at"], reverse=True)

    # -- merge proposals ----------------------------------------------------------------

    async def proposals(self, by: str = "goodwill") -> ProposalRun:
        """Look for profiles that are one person; propose merges, and merge the certain ones.

        Proposed: profiles sharing an email; profiles with the same display name where
        one's account URL appears on the other. Merged at once: profiles sharing a CRM
        record id. A pair once split or rejected is never proposed or merged again.
        """
        barred = await self._barred_pairs()
        fields = {
            "display_name": 1,
            "emails": 1,
            "crm_id": 1,
            "crm_fields": 1,
            "identities.url": 1,
            "origin": 1,
            "created_at": 1,
        }
        people = {
            doc["_id"]: doc async for doc in self._profiles.find({}, fields).batch_size(_BATCH)
        }
        merged = await self._merge_same_crm(people, barred, by)
        candidates: dict[str, set[str]] = {}
        for a, b, why in itertools.chain(_same_email(people), _linked_name(people)):
            if a in people and b in people and _pair_id(a, b) not in barred:
                candidates.setdefault(_pair_id(a, b), set()).add(why)
        proposed = await self._record_proposals(candidates)
        return ProposalRun(proposed, merged)

    async def _barred_pairs(self) -> set[str]:
        barred = {
            _pair_id(doc["into"], doc["absorbed"])
            async for doc in self._merges.find(
                {"split_at": {"$ne": None}}, {"into": 1, "absorbed": 1}
            )
        }
        barred.update(
            [doc["_id"] async for doc in self._proposals.find({"state": "rejected"}, {"_id": 1})]
        )
        return barred

    async def _merge_same_crm(
        self, people: dict[str, Document], barred: set[str], by: str
    ) -> list[Document]:
        groups: dict[str, list[str]] = {}
        for profile_id, doc in people.items():
            if doc.get("crm_id"):
                groups.setdefault(str(doc["crm_id"]), []).append(profile_id)
        merged: list[Document] = []
        for crm_id, ids in groups.items():
            ordered = sorted(ids, key=lambda pid: _survivor_rank(people[pid]))
            survivor = ordered[0]
            for other in ordered[1:]:
                if _pair_id(survivor, other) in barred:
                    continue
                reason = f"same CRM record id {crm_id}"
                merged.append(await self.merge(survivor, other, by, reason, automatic=True))
                del people[other]
        return merged

    async def _record_proposals(self, candidates: Mapping[str, set[str]]) -> list[Document]:
        if not candidates:
            return []
        known = {
            doc["_id"]: doc
            async for doc in self._proposals.find({"_id": {"$in": list(candidates)}})
        }
        now = utcnow()
        fresh = [
            {
                "_id": pid,
                "a": pid.split("|")[0],
                "b": pid.split("|")[1],
                "reasons": sorted(why),
                "created_at": now,
                "state": "open",
            }
            for pid, why in candidates.items()
            if pid not in known
        ]
        if fresh:
            try:
                await self._proposals.insert_many(fresh, ordered=False)
            except BulkWriteError as error:
                if any(e.get("code") != 11000 for e in error.details.get("writeErrors", ())):
                    raise
        grown = [
            UpdateOne(
                {"_id": pid, "state": "open"}, {"$addToSet": {"reasons": {"$each": sorted(why)}}}
            )
            for pid, why in candidates.items()
            if pid in known
            and known[pid].get("state") == "open"
            and not why <= set(known[pid].get("reasons") or ())
        ]
        if grown:
            await self._proposals.bulk_write(grown, ordered=False)
        touched = [
            pid for pid in candidates if pid not in known or known[pid].get("state") == "open"
        ]
        return [
            doc async for doc in self._proposals.find({"_id": {"$in": touched}, "state": "open"})
        ]

    async def list_proposals(self, state: str = "open") -> list[Document]:
        """Merge proposals in ``state`` (open, accepted or rejected), newest first."""
        if state not in _PROPOSAL_STATES:
            raise ValueError(f"State must be one of {', '.join(_PROPOSAL_STATES)}; got {state!r}.")
        cursor = self._proposals.find({"state": state})
        return sorted(
            [doc async for doc in cursor], key=lambda d: (d["created_at"], d["_id"]), reverse=True
        )

    async def reject_proposal(self, proposal_id: str, by: str) -> Document:
        """Reject an open proposal: the pair is never proposed again."""
        who = _who(by)
        proposal = await self._open_proposal(proposal_id)
        await self._proposals.update_one(
            {"_id": proposal["_id"]},
            {"$set": {"state": "rejected", "decided_by": who, "decided_at": utcnow()}},
        )
        return {**proposal, "state": "rejected", "decided_by": who}

    async def accept_proposal(self, proposal_id: str, by: str) -> Document:
        """Accept an open proposal: merge the pair (the CRM or older profile survives). Returns the merge record."""
        who = _who(by)
        proposal = await self._open_proposal(proposal_id)
        fields = {"origin": 1, "crm_id": 1, "created_at": 1}
        docs: list[Document] = []
        for profile_id in (proposal["a"], proposal["b"]):
            doc = await self._profiles.find_one({"_id": profile_id}, fields)
            if doc is None:
                raise ValueError(
                    f"Proposal {proposal['_id']} names {profile_id}, which no longer exists; reject it."
                )
            docs.append(doc)
        into, absorbed = sorted(docs, key=_survivor_rank)
        reason = "proposal: " + "; ".join(proposal.get("reasons") or ())
        return await self.merge(into["_id"], absorbed["_id"], who, reason)

    async def _open_proposal(self, proposal_id: str) -> Document:
        proposal = await self._proposals.find_one({"_id": {"$eq": str(proposal_id).strip()}})
        if proposal is None:
            raise ValueError(
                f"No merge proposal has the id {proposal_id!r}; `goodwill profiles proposals` lists them."
            )
        if proposal.get("state") != "open":
            raise ValueError(f"Proposal {proposal_id} is already {proposal.get('state')}.")
        return proposal


def _who(by: object) -> str:
    who = by.strip() if isinstance(by, str) else ""
    if not who:
        raise ValueError("Say who does this (--by NAME).")
    if len(who) > 100:
        raise ValueError("A name is at most 100 characters.")
    return who


def _survivor_rank(doc: Mapping[str, Any]) -> tuple[int, datetime, str]:
    """Which of two profiles survives a merge: a CRM one, else the older one."""
    crm = 0 if doc.get("origin") == "crm" or doc.get("crm_id") else 1
    return crm, doc.get("created_at") or datetime.max.replace(tzinfo=UTC), doc["_id"]


def _unmerge(record: Mapping[str, Any], current: Mapping[str, Any], now: datetime) -> Document:
    """The update that takes back from the surviving profile what a merge gave it."""
    before = record["snapshot_into"]
    restore: Document = {"updated_at": now}
    unset: Document = {}
    for name, value in (record.get("filled") or {}).items():
        if current.get(name) == value:  # not changed since: give back the old value
            if name in before:
                restore[name] = before[name]
            else:
                unset[name] = ""
    fields = current.get("crm_fields") or {}
    for name, value in (record.get("filled_crm_fields") or {}).items():
        if fields.get(name) == value:
            unset[f"crm_fields.{name}"] = ""
    update: Document = {
        "$set": restore,
        "$pull": {
            "identities": {"key": {"$in": record.get("moved_identities") or []}},
            "emails": {"$in": record.get("moved_emails") or []},
            "tags": {"$in": record.get("moved_tags") or []},
        },
    }
    if unset:
        update["$unset"] = unset
    return update


def _same_email(people: Mapping[str, Document]) -> Iterable[tuple[str, str, str]]:
    owners: dict[str, list[str]] = {}
    for profile_id, doc in people.items():
        for email in doc.get("emails") or ():
            owners.setdefault(str(email).casefold(), []).append(profile_id)
    for email, ids in owners.items():
        for a, b in itertools.combinations(sorted(set(ids)), 2):
            yield a, b, f"same email {email}"


def _linked_name(people: Mapping[str, Document]) -> Iterable[tuple[str, str, str]]:
    """Same display name, and one profile's account URL appears on the other (identity or CRM field)."""
    by_name: dict[str, list[str]] = {}
    for profile_id, doc in people.items():
        name = " ".join(str(doc.get("display_name") or "").split()).casefold()
        if name:
            by_name.setdefault(name, []).append(profile_id)
    for name, ids in by_name.items():
        if len(ids) < 2:
            continue
        owners: dict[str, set[str]] = {}  # URL -> profiles whose account it is
        mentions: dict[str, set[str]] = {}  # URL -> profiles naming it anywhere
        for profile_id in ids:
            doc = people[profile_id]
            for identity in doc.get("identities") or ():
                if url := _normal_url(identity.get("url")):
                    owners.setdefault(url, set()).add(profile_id)
                    mentions.setdefault(url, set()).add(profile_id)
            for value in (doc.get("crm_fields") or {}).values():
                if url := _normal_url(value):
                    mentions.setdefault(url, set()).add(profile_id)
        for url, holders in owners.items():
            for a in holders:
                for b in mentions.get(url, ()):
                    if a != b:
                        low, high = sorted((a, b))
                        yield low, high, f"same name {name!r} and linked profile URL {url}"


def _normal_url(url: object) -> str | None:
    """A URL as compared for "the same page": no scheme, no www., no trailing slash, case-folded."""
    if not isinstance(url, str) or "." not in url:
        return None
    text = url.strip().casefold()
    for prefix in ("https://", "http://"):
        text = text.removeprefix(prefix)
    return text.removeprefix("www.").rstrip("/") or None


def _pair_id(a: str, b: str) -> str:
    return "|".join(sorted((a, b)))
