"""Resolving mention authors to profiles: who wrote each mention.

A mention's author is an *identity*, an account on one source named by its identity
key (``goodwill.identity``). Resolving a batch of mentions finds the profile holding
each identity (or, for an account a CRM import named by handle only, the profile
holding that handle), else creates one; refreshes each identity from what the batch
saw of it (followers, names, first and last sighting); and ties the mentions to their
profiles. An erased person's identities are never rebuilt: their mentions lose their
author fields instead (``erasures`` keeps the hashes of their keys).

Writes go through ``store.profiles`` and ``store.mentions``; counts and advocacy
follow in ``customers/profiles.py``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from goodwill.identity import author_handle_key, erasure_hash, identity_key
from goodwill.models import Identity, Profile, utcnow
from store import Database
from store.profiles import IdentitySighting

__all__ = ["collected_profile_id", "resolve_authors"]

Document = dict[str, Any]
# An identity's author fields that its newest sighting refreshes.
_REFRESHED = ("handle", "display_name", "followers", "url")


def collected_profile_id(key: str) -> str:
    """The id of the profile created for a newly seen identity: derived from its key.

    Deterministic, so two scorers that meet the same new author at once create one
    profile, not two: the second insert is refused as a duplicate and both converge.
    """
    return "p_" + hashlib.sha256(b"goodwill-profile:" + key.encode("utf-8")).hexdigest()[:16]


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


@dataclass(frozen=True)
class _Stored:
    """An identity as its profile holds it, and whether that profile has a display name."""

    identity: Mapping[str, Any]
    named: bool


def _new_profile(key: str, sighting: _Sighting, now: datetime) -> Document:
    """A profile for an identity seen for the first time."""
    return Profile(
        _id=collected_profile_id(key),
        display_name=sighting.author.get("display_name") or sighting.author.get("handle"),
        identities=[Identity.model_validate(sighting.identity(key))],
        reach=int(sighting.author.get("followers") or 0),
        origin="collected",
        created_at=now,
        updated_at=now,
    ).to_document()


def _sighting_change(
    profile_id: str, key: str, sighting: _Sighting, identity: Mapping[str, Any] | None
) -> IdentitySighting | None:
    """What an identity needs after ``sighting`` (None: nothing).

    Only the newest sighting sets author fields and the last sighting (re-scoring old
    posts keeps today's followers); an older one can only move the first sighting back.
    """
    identity = identity or {}
    last, first = identity.get("last_seen"), identity.get("first_seen")
    fields: Document = {}
    last_seen = first_seen = None
    newest = last is None or (sighting.last is not None and sighting.last >= last)
    if newest:
        fields = {
            name: sighting.author[name]
            for name in _REFRESHED
            if name in sighting.author and identity.get(name) != sighting.author[name]
        }
        if sighting.last != last:
            last_seen = sighting.last
    if first is None or (sighting.first is not None and sighting.first < first):
        first_seen = sighting.first
    if not fields and last_seen is None and first_seen is None:
        return None
    return IdentitySighting(profile_id, key, fields, last_seen, first_seen)


async def resolve_authors(store: Database, mentions: Sequence[Mapping[str, Any]]) -> dict[Any, str]:
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
        sighting = sightings.get(key)
        if sighting is None:
            hk = author_handle_key(doc["source"], author)
            sighting = sightings[key] = _Sighting(doc["source"], hk)
        sighting.see(author, doc["created_at"])
        keyed.append((doc, key))
    if not keyed:
        return {}
    erased = await _erased_keys(store, sightings)
    if erased:
        await store.mentions.strip_authors([doc["_id"] for doc, key in keyed if key in erased])
    wanted = {key: s for key, s in sightings.items() if key not in erased}
    owners, stored = await _owners(store, wanted)
    await _record_sightings(store, wanted, owners, stored)
    await store.mentions.link_to_profiles(
        (doc["_id"], key, owners[key])
        for doc, key in keyed
        if key in owners
        and (doc.get("author_key"), doc.get("profile_id")) != (key, owners[key])  # re-scored
    )
    return {doc["_id"]: owners[key] for doc, key in keyed if key in owners}


async def _erased_keys(store: Database, sightings: Mapping[str, _Sighting]) -> set[str]:
    """The identity keys (of these) whose identity or handle was erased."""
    hashes: dict[str, str] = {}
    for key, sighting in sightings.items():
        hashes[erasure_hash(key)] = key
        if sighting.handle_key:
            hashes[erasure_hash(sighting.handle_key)] = key
    return {hashes[h] for h in await store.erasures.erased_among(hashes)}


async def _owners(
    store: Database, sightings: Mapping[str, _Sighting]
) -> tuple[dict[str, str], dict[str, _Stored]]:
    """The profile of each identity (found by key, by a CRM handle, or created), and what is stored of it."""
    stored: dict[str, _Stored] = {}
    owners = await _by_identity_key(store, list(sightings), stored)
    missing = {key: s for key, s in sightings.items() if key not in owners}
    if missing:
        owners.update(await _claim_crm_handles(store, missing))
    now = utcnow()
    new = [_new_profile(k, s, now) for k, s in sightings.items() if k not in owners]
    if new:
        # Another scorer may create the same profile (same derived id) first: both converge.
        await store.profiles.create(new)
        created = [doc["identities"][0]["key"] for doc in new]
        owners.update(await _by_identity_key(store, created, stored))
    return owners, stored


async def _by_identity_key(
    store: Database, keys: list[str], stored: dict[str, _Stored]
) -> dict[str, str]:
    """The profile holding each identity key; fills ``stored`` with what it holds of it."""
    owners: dict[str, str] = {}
    wanted = set(keys)
    for doc in await store.profiles.holding_identities(keys):
        for identity in doc.get("identities") or ():
            key = identity.get("key")
            if key in wanted and key not in owners:
                owners[key] = doc["_id"]
                stored[key] = _Stored(identity, bool(doc.get("display_name")))
    return owners


async def _claim_crm_handles(store: Database, sightings: Mapping[str, _Sighting]) -> dict[str, str]:
    """Attach identities to profiles that know the account by handle only (a CRM row)."""
    by_handle = {s.handle_key: key for key, s in sightings.items() if s.handle_key}
    if not by_handle:
        return {}
    owners: dict[str, str] = {}
    for doc in await store.profiles.knowing_handles_only(list(by_handle)):
        for identity in doc.get("identities") or ():
            key = by_handle.get(identity.get("handle_key") or "")
            if key and identity.get("id") is None and key not in owners:
                owners[key] = doc["_id"]
    for key, profile_id in owners.items():
        await store.profiles.add_identity(profile_id, sightings[key].identity(key))
    return owners


async def _record_sightings(
    store: Database,
    sightings: Mapping[str, _Sighting],
    owners: Mapping[str, str],
    stored: Mapping[str, _Stored],
) -> None:
    """Refresh identities from what the batch saw, and name the nameless profiles that own them."""
    changes: list[IdentitySighting] = []
    names: dict[str, str] = {}
    for key, sighting in sightings.items():
        if key not in owners:
            continue
        known = stored.get(key)
        change = _sighting_change(owners[key], key, sighting, known.identity if known else None)
        if change is not None:
            changes.append(change)
        name = sighting.author.get("display_name") or sighting.author.get("handle")
        if name and not (known and known.named):
            names.setdefault(owners[key], name)
    await store.profiles.record_sightings(changes, names)
