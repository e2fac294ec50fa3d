"""Customer profiles: their counts, their advocacy per brand, reading them, and merges.

A *profile* is one person, holding one or more *identities* (accounts on sources).
The scorer resolves each mention's author to a profile (``customers/resolution.py``),
then recomputes, exactly and from the mentions themselves, the advocacy of the
(profile, brand) pairs a batch touched (``customers/advocacy.py`` has the formula).
A full recompute streams every mention once and gives the same numbers.

People merge profiles that are one person, and split a merge that was wrong
(``customers/merges.py``; ``ProfileStore.merges`` is the one for these profiles,
which recomputes both sides after each).

Everything is read and written through the store (``store.profiles``,
``store.mentions``, ``store.merges``); this module decides what the numbers are.
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
from customers.merges import Merges
from customers.resolution import resolve_authors
from goodwill.errors import InvalidRequest, NotFound, PersonNotFound
from goodwill.identity import ADVOCACY_TIERS, handle_key
from goodwill.models import COUNT_NAMES, utcnow
from store import Database
from store.profiles import LeaderboardFilter

__all__ = ["EMAIL", "ProfileStore", "RecomputeStats", "TierChange"]

Document = dict[str, Any]
Pair = tuple[str, str]  # (profile_id, brand)

_BATCH = 10_000  # mentions read between two progress reports in a full recompute
_ZERO_COUNTS: dict[str, int] = dict.fromkeys(COUNT_NAMES, 0)


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
        self.counts = [0] * len(COUNT_NAMES)  # in COUNT_NAMES order: a list is small
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
        counted = doc.get("counted") or {}
        label = counted.get("label") or (doc.get("sentiment") or {}).get("label")
        complaint = bool(
            counted["complaint"]
            if "complaint" in counted
            else (doc.get("complaint") or {}).get("is_complaint")
        )
        person.counts[1] += 1
        if label in ("positive", "neutral", "negative"):
            person.counts[COUNT_NAMES.index(label)] += 1
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
    """A profile's fields derived from its mentions and identities."""
    return {
        "counts": dict(zip(COUNT_NAMES, tally.counts, strict=True))
        if tally
        else dict(_ZERO_COUNTS),
        "reach": reach,
        "first_seen": tally.first if tally else None,
        "last_seen": tally.last if tally else None,
        "updated_at": now,
    }


class ProfileStore:
    """Profiles and their advocacy, over one ``Database``; ``merges`` merges and splits them.

    Every public method raises ``StoreError`` when the database is unreachable or
    refuses, and ``InvalidRequest`` (``NotFound`` when it names nothing) saying what to
    pass instead when a reference or a request is wrong.
    """

    def __init__(self, store: Database, params: AdvocacyParams | None = None) -> None:
        self.store = store
        self.params = params or AdvocacyParams()
        #: Merges, splits and merge proposals of these profiles, recomputing both sides.
        self.merges = Merges(store, refresh=self.refresh_people)

    async def resolve(self, mentions: Sequence[Mapping[str, Any]]) -> dict[Any, str]:
        """Tie each mention's author to a profile; returns ``{mention _id: profile id}``.

        See ``customers.resolution.resolve_authors``: the profile holding the author's
        identity (found, claimed from a CRM handle, or created), refreshed from the batch;
        an erased author's mentions lose their author fields instead.
        """
        return await resolve_authors(self.store, mentions)

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
        people = await self.store.profiles.with_followers(ids)
        tallies = _Tallies(as_of, self.params)
        async for doc in self.store.profiles.advocacy_inputs(ids):
            tallies.add(doc)
        existing = await self.store.profiles.advocacy_of_profiles(ids)
        targets.update(key for key in tallies.pairs if key[0] in whole)
        targets.update(
            (doc["profile_id"], doc["brand"])
            for doc in existing.values()
            if doc["profile_id"] in whole
        )
        now = utcnow()
        written: list[Document] = []
        removed: list[str] = []
        changes: list[TierChange] = []
        for key in sorted(targets):
            doc_id = f"{key[0]}|{key[1]}"
            pair = tallies.pairs.get(key)
            if pair is None or key[0] not in people:
                if doc_id in existing:
                    removed.append(doc_id)
                continue
            result = tallies.advocacy(pair, _reach(people[key[0]]))
            doc, change = _advocacy_doc(key, pair, result, as_of, existing.get(doc_id), now)
            written.append(doc)
            if change:
                changes.append(change)
        await self.store.profiles.write_advocacy(written, removed)
        await self.store.profiles.set_derived(
            {
                profile_id: _profile_fields(tallies.profiles.get(profile_id), _reach(doc), now)
                for profile_id, doc in people.items()
            }
        )
        return changes

    async def refresh_people(self, profile_ids: Iterable[str]) -> list[TierChange]:
        """Recompute the counts of these profiles and their advocacy for every brand (after a merge or a split)."""
        return await self.refresh(profiles=profile_ids)

    async def repair_refreshes(
        self, now: datetime | None = None, lease: timedelta = timedelta(minutes=5)
    ) -> int:
        """Refresh the advocacy that dead scorers left undone; returns how many batches.

        A scorer notes whose advocacy a batch will refresh before writing its scores
        (``store.profiles.journal_refresh``) and removes the note once done; a note
        left past its expiry is taken here, one at a time, and its refresh done.
        """
        now = now or utcnow()
        repaired = 0
        while (overdue := await self.store.profiles.take_overdue_refresh(now, lease)) is not None:
            token, pairs = overdue
            await self.refresh(pairs)
            await self.store.profiles.end_refresh(token)
            repaired += 1
        return repaired

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
        total = await self.store.profiles.count_resolved_mentions() if progress else 0
        # Per profile: its reach, and its derived fields as stored (to skip unchanged ones).
        people: dict[str, tuple[int, tuple[Any, ...]]] = {}
        async for doc in self.store.profiles.derived_fields():
            people[doc["_id"]] = (_reach(doc), _derived(doc))
        tallies = _Tallies(as_of, self.params)
        async for doc in self.store.profiles.advocacy_inputs():
            if doc["profile_id"] in people:
                tallies.add(doc)
            if progress and tallies.read % _BATCH == 0:
                progress(tallies.read, total)
        if progress:
            progress(tallies.read, total)
        existing: dict[str, Document] = {}
        async for doc in self.store.profiles.all_advocacy():
            existing[doc["_id"]] = {
                "digest": _advocacy_digest(doc),
                "tier": doc.get("tier"),
                "previous_tier": doc.get("previous_tier"),
                "tier_changed_at": doc.get("tier_changed_at"),
            }
        now = utcnow()
        changed = 0
        writes = self.store.profiles.recompute_writes()  # sent as they come: never all in memory
        for key, pair in tallies.pairs.items():
            doc_id = f"{key[0]}|{key[1]}"
            old = existing.pop(doc_id, None)
            result = tallies.advocacy(pair, people[key[0]][0])
            doc, change = _advocacy_doc(key, pair, result, as_of, old, now)
            changed += change is not None
            if old is None:
                await writes.insert_advocacy(doc)
            elif old["digest"] != _advocacy_digest(doc):  # unchanged documents are not rewritten
                await writes.replace_advocacy(doc)
        for doc_id in existing:
            await writes.remove_advocacy(doc_id)
        await writes.flush()
        for profile_id, (followers, stored) in people.items():
            fields = _profile_fields(tallies.profiles.get(profile_id), followers, now)
            if _derived(fields) != stored:
                await writes.set_derived(profile_id, fields)
        await writes.flush()
        return RecomputeStats(
            mentions=tallies.read,
            profiles=len(people),
            advocacy=len(tallies.pairs),
            removed=len(existing),
            tier_changes=changed,
            written=writes.written,
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
            found = await self.store.profiles.get(text)
            if found is not None:
                return [found]
        if EMAIL.match(text) and ":" not in text:
            return await self.store.profiles.named_by(email=text.casefold(), limit=limit)
        if ":" in text:
            source, _, rest = text.partition(":")
            handle = None
            if not rest.startswith("id:") and rest.strip().lstrip("@"):
                handle = handle_key(source, rest)
            return await self.store.profiles.named_by(
                identity_key=text, handle_key=handle, limit=limit
            )
        return []

    async def get(self, ref: str) -> Document:
        """The profile a person reference names: a profile id, an email, ``source:handle`` or an identity key.

        Raises:
            InvalidRequest: an empty reference.
            PersonNotFound: nothing matches, or several profiles do (the message lists them).
        """
        text = ref.strip() if isinstance(ref, str) else ""
        if not text:
            raise InvalidRequest(_HOW_TO_NAME)
        matches = await self.matching(text, limit=11)
        if not matches:
            raise PersonNotFound(f"No profile matches {text!r}. {_HOW_TO_NAME}")
        if len(matches) > 1:
            names = ", ".join(
                f"{doc['_id']} ({doc.get('display_name') or 'no name'})" for doc in matches[:10]
            )
            raise PersonNotFound(
                f"{text!r} names {len(matches) if len(matches) <= 10 else 'more than 10'} profiles: "
                f"{names}. Pass one profile id, or merge them if they are one person."
            )
        return matches[0]

    async def tiers(self, pairs: Iterable[Pair]) -> dict[Pair, str]:
        """The advocacy tier of each (profile, brand) that has one, in one query."""
        return await self.store.profiles.tiers(pairs)

    async def advocacy_of(self, profile_id: str) -> list[Document]:
        """A profile's advocacy documents, one per brand, highest score first."""
        return await self.store.profiles.advocacy_of(profile_id)

    async def profile_mentions(
        self, profile_id: str, limit: int = 20, offset: int = 0
    ) -> list[Document]:
        """A profile's mentions, newest first (raw payloads left out)."""
        return await self.store.mentions.of_profile(profile_id, limit, offset)

    async def score_history(self, profile_id: str, brand: str) -> list[tuple[datetime, float]]:
        """The profile's score for ``brand`` as of the end of each day it mentioned the brand.

        Each point is computed with the formula over the mentions up to that day, aged to
        that day's end, with the profile's current reach.

        Raises:
            NotFound: no profile has this id.
        """
        profile = (await self.store.profiles.with_followers([profile_id])).get(profile_id)
        if profile is None:
            raise NotFound(f"No profile has the id {profile_id!r}.")
        scored = sorted(
            [
                (doc["created_at"], s)
                async for doc in self.store.profiles.advocacy_inputs([profile_id], brand)
                if (s := signal_of(doc)) is not None
            ],
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
        mentioned it there.

        Raises:
            InvalidRequest: an unknown tier.
        """
        board = _board(brand, tier, min_score, max_score, since, source)
        return await self.store.profiles.leaderboard(
            board, lowest_first=tier == "detractor", limit=limit, offset=offset
        )

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
        board = _board(brand, tier, min_score, max_score, since, source)
        return await self.store.profiles.leaderboard_count(board)


#: What an email in a person reference looks like (no colon: that is a source:handle).
EMAIL = re.compile(r"^[^@\s:]+@[^@\s:]+\.[^@\s:]+$")
_HOW_TO_NAME = (
    "Name a person by profile id (p_...), email (jane@example.com), "
    "source:handle (twitter:jane) or identity key (twitter:id:123)."
)
_ONE_DAY = timedelta(days=1)


def _board(
    brand: str,
    tier: str | None,
    min_score: float | None,
    max_score: float | None,
    since: datetime | None,
    source: str | None,
) -> LeaderboardFilter:
    """A leaderboard's filters, its tier checked."""
    if tier is not None and tier not in ADVOCACY_TIERS:
        raise InvalidRequest(f"Tier must be one of {', '.join(ADVOCACY_TIERS)}; got {tier!r}.")
    return LeaderboardFilter(brand, tier, min_score, max_score, since, source)
