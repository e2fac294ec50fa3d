"""Merging profiles that are one person, splitting a wrong merge, and merge proposals.

A merge keeps snapshots of both profiles in ``merges``, so a split restores the
absorbed profile as it was: same id, identities (as they are now), emails, tags,
the fields it lent, and its identities' mentions; both sides are then recomputed
(the ``refresh`` it is given: ``ProfileStore.refresh_people``), so their scores are
what they were. A split pair is never merged or proposed again; nor is a rejected
proposal.

Proposals come from a shared email, or the same display name where one profile's
account URL appears on the other (an identity's or a CRM field's URL); only a shared
CRM record id merges on its own. ``ProfileStore.merges`` is the one for its profiles.

This module decides who is merged and what moves; ``store.merges``, ``store.profiles``
and ``store.mentions`` read and write.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId

from goodwill.errors import InvalidRequest, NotFound
from goodwill.models import utcnow
from store import Database

__all__ = ["Merges", "ProposalRun", "Refresh"]

Document = dict[str, Any]
#: Recomputes the counts and advocacy of the profiles a merge or a split changed.
Refresh = Callable[[Sequence[str]], Awaitable[object]]
# Profile fields a merge fills from the absorbed profile where the surviving one has none.
_FILLABLE = ("display_name", "crm_id", "crm_system", "value", "tier")
_PROPOSAL_STATES = ("open", "accepted", "rejected")


@dataclass(frozen=True)
class ProposalRun:
    """What a search for merge candidates found and did."""

    proposed: list[Document]  # open proposals created or given a new reason
    merged: list[Document]  # merge records of automatic merges (same CRM record id)


class Merges:
    """Merges, splits and merge proposals of a store's profiles.

    ``refresh`` recomputes the two profiles of each merge and split (their counts and
    advocacy): ``Merges(store, refresh=profiles.refresh_people)``, as ``ProfileStore``
    builds its ``merges``. Every public method raises ``StoreError`` when the database
    is unreachable, and ``InvalidRequest`` (``NotFound`` when it names nothing) saying
    what to pass instead when a request cannot be done.
    """

    def __init__(self, store: Database, refresh: Refresh) -> None:
        self.store = store
        self.refresh = refresh

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
            InvalidRequest: the same profile twice, or no name.
            NotFound: an unknown profile.
        """
        who = _who(by)
        if into == absorbed:
            raise InvalidRequest(f"Cannot merge {into} with itself; pass two different profiles.")
        keep = await self.store.profiles.get(into)
        gone = await self.store.profiles.get(absorbed)
        for ref, doc in ((into, keep), (absorbed, gone)):
            if doc is None:
                raise NotFound(
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
        await self.store.merges.add(record)
        await self.store.profiles.absorb(
            into,
            identities=moved,
            emails=moved_emails,
            tags=moved_tags,
            fields=filled,
            crm_fields=filled_crm,
            at=record["at"],
        )
        await self.store.profiles.delete(absorbed)
        # After the delete: a mention resolved to the absorbed profile meanwhile moves too.
        await self.store.mentions.move_to_profile(absorbed, into)
        await self.refresh([into, absorbed])
        await self.store.merges.accept_open_proposal(_pair_id(into, absorbed), who, record["at"])
        return record

    async def split(self, ref: str, by: str) -> Document:
        """Undo a merge, named by its id or by the profile it absorbed. Returns the merge record.

        The absorbed profile comes back with its id, its identities (as they are now),
        emails, tags and the fields it lent, and the mentions of its identities; both
        profiles are recomputed.

        Raises:
            NotFound: an unknown merge.
            InvalidRequest: a merge already split, or one whose identities have since
                left the surviving profile (a later merge or an erasure).
        """
        who = _who(by)
        record = await self._merge_record(ref)
        if record.get("split_at") is not None:
            raise InvalidRequest(
                f"Merge {record['_id']} was already split on {record['split_at']:%Y-%m-%d %H:%M} "
                f"by {record.get('split_by')}."
            )
        into, absorbed = record["into"], record["absorbed"]
        current = await self.store.profiles.get(into)
        if current is None:
            later = await self.store.merges.unsplit_absorbing(into)
            hint = f" Split merge {later['_id']} first." if later else ""
            raise InvalidRequest(
                f"Profile {into} no longer exists, so merge {record['_id']} cannot be split.{hint}"
            )
        now_on = {i["key"]: i for i in current.get("identities") or ()}
        moved = record.get("moved_identities") or []
        left = [key for key in moved if key not in now_on]
        if left:
            raise InvalidRequest(
                f"Cannot split merge {record['_id']}: identities {', '.join(left)} have since left "
                f"profile {into} (a later merge or an erasure). Split the later merge first."
            )
        if await self.store.profiles.exists(absorbed):
            raise InvalidRequest(
                f"A profile with the id {absorbed} exists again; merge {record['_id']} cannot be split."
            )
        restored = dict(record["snapshot_absorbed"])
        restored["identities"] = [now_on[key] for key in moved]
        restored["updated_at"] = utcnow()
        if not await self.store.profiles.restore(restored):
            raise InvalidRequest(
                f"A profile with the id {absorbed} was created meanwhile; merge {record['_id']} cannot be split."
            )
        fields, unset, unset_crm = _given_back(record, current)
        await self.store.profiles.give_back(
            into,
            identity_keys=moved,
            emails=record.get("moved_emails") or [],
            tags=record.get("moved_tags") or [],
            fields=fields,
            unset=unset,
            unset_crm_fields=unset_crm,
            at=restored["updated_at"],
        )
        await self.store.mentions.move_to_profile(into, absorbed, author_keys=moved)
        await self.store.merges.mark_split(record["_id"], restored["updated_at"], who)
        await self.refresh([into, absorbed])
        record.update(split_at=restored["updated_at"], split_by=who)
        return record

    async def _merge_record(self, ref: str) -> Document:
        """The merge a reference names: its id, or the (latest unsplit) merge that absorbed a profile."""
        text = ref.strip() if isinstance(ref, str) else ""
        found = await self.store.merges.get(text)
        if found is not None:
            return found
        merges = await self.store.merges.records(text, snapshots=True)
        absorbed = [m for m in merges if m["absorbed"] == text]
        if absorbed:
            open_ = [m for m in absorbed if m.get("split_at") is None]
            return (open_ or absorbed)[0]
        into = [m for m in merges if m.get("split_at") is None]
        if len(into) == 1:
            return into[0]
        if into:
            ids = ", ".join(str(m["_id"]) for m in into)
            raise InvalidRequest(
                f"Profile {text} absorbed several profiles; pass one merge id: {ids}."
            )
        raise NotFound(
            f"No merge matches {text!r}. Pass a merge id (24 hex digits) or the id of a profile that was merged away."
        )

    async def records(self, profile_id: str | None = None) -> list[Document]:
        """Merge records (of one profile, as either side), newest first, without their snapshots."""
        return await self.store.merges.records(profile_id)

    # -- merge proposals ----------------------------------------------------------------

    async def proposals(self, by: str = "goodwill") -> ProposalRun:
        """Look for profiles that are one person; propose merges, and merge the certain ones.

        Proposed: profiles sharing an email; profiles with the same display name where
        one's account URL appears on the other. Merged at once: profiles sharing a CRM
        record id. A pair once split or rejected is never proposed or merged again.
        """
        barred = {
            _pair_id(into, absorbed) for into, absorbed in await self.store.merges.split_pairs()
        }
        barred.update(await self.store.merges.rejected_proposal_ids())
        people = await self.store.profiles.proposal_fields()
        merged = await self._merge_same_crm(people, barred, by)
        candidates: dict[str, set[str]] = {}
        for a, b, why in itertools.chain(_same_email(people), _linked_name(people)):
            if a in people and b in people and _pair_id(a, b) not in barred:
                candidates.setdefault(_pair_id(a, b), set()).add(why)
        proposed = await self._record_proposals(candidates)
        return ProposalRun(proposed, merged)

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
        known = await self.store.merges.proposals_by_id(candidates)
        now = utcnow()
        await self.store.merges.add_proposals(
            [
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
        )
        await self.store.merges.add_proposal_reasons(
            {
                pid: sorted(why)
                for pid, why in candidates.items()
                if pid in known
                and known[pid].get("state") == "open"
                and not why <= set(known[pid].get("reasons") or ())
            }
        )
        touched = [
            pid for pid in candidates if pid not in known or known[pid].get("state") == "open"
        ]
        return await self.store.merges.open_proposals(touched)

    async def list_proposals(self, state: str = "open") -> list[Document]:
        """Merge proposals in ``state`` (open, accepted or rejected), newest first."""
        if state not in _PROPOSAL_STATES:
            raise InvalidRequest(
                f"State must be one of {', '.join(_PROPOSAL_STATES)}; got {state!r}."
            )
        return await self.store.merges.proposals_in(state)

    async def reject_proposal(self, proposal_id: str, by: str) -> Document:
        """Reject an open proposal: the pair is never proposed again."""
        who = _who(by)
        proposal = await self._open_proposal(proposal_id)
        await self.store.merges.reject_proposal(proposal["_id"], who, utcnow())
        return {**proposal, "state": "rejected", "decided_by": who}

    async def accept_proposal(self, proposal_id: str, by: str) -> Document:
        """Accept an open proposal: merge the pair (the CRM or older profile survives). Returns the merge record."""
        who = _who(by)
        proposal = await self._open_proposal(proposal_id)
        docs: list[Document] = []
        for profile_id in (proposal["a"], proposal["b"]):
            doc = await self.store.profiles.get(profile_id)
            if doc is None:
                raise NotFound(
                    f"Proposal {proposal['_id']} names {profile_id}, which no longer exists; reject it."
                )
            docs.append(doc)
        into, absorbed = sorted(docs, key=_survivor_rank)
        reason = "proposal: " + "; ".join(proposal.get("reasons") or ())
        return await self.merge(into["_id"], absorbed["_id"], who, reason)

    async def _open_proposal(self, proposal_id: str) -> Document:
        proposal = await self.store.merges.proposal(str(proposal_id).strip())
        if proposal is None:
            raise NotFound(
                f"No merge proposal has the id {proposal_id!r}; `goodwill profiles proposals` lists them."
            )
        if proposal.get("state") != "open":
            raise InvalidRequest(f"Proposal {proposal_id} is already {proposal.get('state')}.")
        return proposal


def _who(by: object) -> str:
    who = by.strip() if isinstance(by, str) else ""
    if not who:
        raise InvalidRequest("Say who does this (--by NAME).")
    if len(who) > 100:
        raise InvalidRequest("A name is at most 100 characters.")
    return who


def _survivor_rank(doc: Mapping[str, Any]) -> tuple[int, datetime, str]:
    """Which of two profiles survives a merge: a CRM one, else the older one."""
    crm = 0 if doc.get("origin") == "crm" or doc.get("crm_id") else 1
    return crm, doc.get("created_at") or datetime.max.replace(tzinfo=UTC), doc["_id"]


def _given_back(
    record: Mapping[str, Any], current: Mapping[str, Any]
) -> tuple[Document, list[str], list[str]]:
    """What a split takes back of the fields a merge filled on the surviving profile.

    Only those not changed since: (the values it had before, the fields it had not,
    the CRM fields it had not).
    """
    before = record["snapshot_into"]
    restore: Document = {}
    unset: list[str] = []
    for name, value in (record.get("filled") or {}).items():
        if current.get(name) == value:  # not changed since: give back the old value
            if name in before:
                restore[name] = before[name]
            else:
                unset.append(name)
    fields = current.get("crm_fields") or {}
    unset_crm = [
        name
        for name, value in (record.get("filled_crm_fields") or {}).items()
        if fields.get(name) == value
    ]
    return restore, unset, unset_crm


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
