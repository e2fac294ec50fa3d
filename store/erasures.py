"""A person's erasure: everything held about them gathered or removed, and what stays erased.

Collection ``erasures``: one record per erasure, with the hashes of the person's
identity and handle keys, emails and CRM record ids (``identity_hashes``), so that a
later collection never stores their author fields again and a CRM import never brings
them back (``store.mentions`` and the CRM import check them). The customer
domain (``customers/rights.py``) decides who a person is and which keys are theirs, as
a ``Subject``; this module finds their data in every collection that holds it, reads
it and removes it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from goodwill.models import utcnow
from store._common import Document, translating_errors

__all__ = ["INDEXES", "Author", "Erased", "Erasures", "Held", "Subject"]

INDEXES: dict[str, list[IndexModel]] = {}


def _nothing() -> Document:
    """A query that matches no document (a person with no profile has no advocacy, merges...)."""
    return {"_id": {"$in": []}}


class Author(NamedTuple):
    """One identity of a person on one source, as their mentions' ``author`` holds it."""

    source: str
    id: str | None
    handle: str | None


@dataclass(frozen=True)
class Subject:
    """Whose data: a person as the customer domain resolved them.

    A mention is theirs when it carries ``profile_id``, has one of ``keys`` (identity and
    handle keys) as its ``author_key``, or comes from an author's source with that
    author's id, or handle in any case with or without a leading ``@``.
    """

    profile_id: str | None
    keys: frozenset[str]
    authors: tuple[Author, ...] = ()

    def mentions_query(self) -> Document:
        """The query of every mention by the person (one that matches nothing if none can be)."""
        clauses: list[Document] = []
        if self.profile_id is not None:
            clauses.append({"profile_id": self.profile_id})
        if self.keys:
            clauses.append({"author_key": {"$in": sorted(self.keys)}})
        for author in self.authors:
            if not author.source:
                continue
            if author.id:
                clauses.append({"source": author.source, "author.id": author.id})
            if author.handle:
                handle = re.escape(author.handle.lstrip("@"))
                clauses.append(
                    {
                        "source": author.source,
                        "author.handle": {"$regex": f"^@?{handle}$", "$options": "i"},
                    }
                )
        return {"$or": clauses} if clauses else _nothing()


@dataclass(frozen=True)
class Held:
    """Everything held about a person, as stored (see ``Erasures.held``)."""

    mentions: list[Document]
    corrections: list[Document]
    advocacy: list[Document]
    merges: list[Document]
    merge_proposals: list[Document]


@dataclass(frozen=True)
class Erased:
    """What an erasure changed: documents anonymised, scrubbed or deleted, per collection."""

    mentions: int
    corrections: int
    alerts: int
    advocacy: int
    proposals: int
    merges: int


def _involving(profile_id: str | None) -> Document:
    """Merge proposals that pair the profile with another."""
    return {"$or": [{"a": profile_id}, {"b": profile_id}]} if profile_id else _nothing()


def _merged_with(profile_id: str | None) -> Document:
    """Merge records in which the profile absorbed another or was absorbed."""
    if not profile_id:
        return _nothing()
    return {"$or": [{"into": profile_id}, {"absorbed": profile_id}]}


@translating_errors
class Erasures:
    """Queries of ``erasures`` and, for one person, of every collection that holds their data."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._db = db

    async def has_mentions(self, subject: Subject) -> bool:
        """Whether at least one mention is by ``subject`` (an author with no profile yet)."""
        return bool(await self._db.mentions.count_documents(subject.mentions_query(), limit=1))

    async def held(self, subject: Subject) -> Held:
        """Everything held about ``subject``: what a data export shows.

        Their mentions (without the scoring queue's claim), the corrections people made
        to those mentions, and, for a profile, its advocacy documents and the merges and
        merge proposals that involve it.
        """
        mentions = [doc async for doc in self._db.mentions.find(subject.mentions_query())]
        for mention in mentions:
            mention.pop("claim", None)
        ids = [mention["_id"] for mention in mentions]
        corrections = [doc async for doc in self._db.corrections.find({"mention_id": {"$in": ids}})]
        pid = subject.profile_id
        advocacy = [doc async for doc in self._db.advocacy.find({"profile_id": pid})] if pid else []
        merges = [doc async for doc in self._db.merges.find(_merged_with(pid))]
        proposals = [doc async for doc in self._db.merge_proposals.find(_involving(pid))]
        return Held(mentions, corrections, advocacy, merges, proposals)

    async def mention_authors(self, subject: Subject) -> list[Document]:
        """``subject``'s mentions, only their ``_id``, ``source``, ``author`` and ``author_key``.

        What an erasure hashes and looks for elsewhere, read before anything is removed.
        """
        fields = {"source": 1, "author": 1, "author_key": 1}
        return [doc async for doc in self._db.mentions.find(subject.mentions_query(), fields)]

    async def erase(
        self,
        *,
        by: str,
        identity_hashes: Sequence[str],
        profile_id: str | None,
        mention_ids: Sequence[object],
        keep_text: bool,
        names_person: Callable[[object], bool] | None,
    ) -> Erased:
        """Erase a person's data; see ``customers/rights.py`` for what goes and what stays.

        In this order, each step idempotent, so that an interrupted erasure is finished by
        running it again (there are no transactions to rely on):

        1. an ``erasures`` record (when, ``by`` whom, ``identity_hashes``: hashes of the
           person's identity, handle, email and CRM record keys; never a name): from here on
           a re-collected mention of the person arrives anonymous, and an import row naming
           them is rejected;
        2. the mentions ``mention_ids`` lose ``author``, ``author_key``, ``profile_id`` and
           ``raw`` (and, unless ``keep_text``, their text, title and fingerprint), marked
           ``erased``; unless ``keep_text``, so does the text of their corrections;
        3. every alert whose payload ``names_person`` (when given) gets its payload
           replaced, and is not sent if it was not yet;
        4. the profile's advocacy documents, merge proposals and merge records are deleted,
           and the profile itself last, so a rerun still finds the person by it;
        5. the record is completed with the number of mentions.
        """
        record = await self._db.erasures.insert_one(
            {"at": utcnow(), "by": by, "identity_hashes": list(identity_hashes), "mentions": 0}
        )
        ids = list(mention_ids)
        unset: Document = {"author": "", "author_key": "", "profile_id": "", "raw": ""}
        sets: Document = {"erased": True}
        if not keep_text:
            unset.update(title="", fingerprint="")
            sets["text"] = ""
        if ids:
            await self._db.mentions.update_many(
                {"_id": {"$in": ids}}, {"$unset": unset, "$set": sets}
            )
        corrections = 0
        if ids and not keep_text:
            result = await self._db.corrections.update_many(
                {"mention_id": {"$in": ids}}, {"$set": {"text": "", "erased": True}}
            )
            corrections = result.matched_count
        alerts = 0 if names_person is None else await self._scrub_alerts(names_person)
        advocacy = proposals = merges = 0
        if profile_id is not None:
            advocacy = (
                await self._db.advocacy.delete_many({"profile_id": profile_id})
            ).deleted_count
            proposals = (
                await self._db.merge_proposals.delete_many(_involving(profile_id))
            ).deleted_count
            merges = (await self._db.merges.delete_many(_merged_with(profile_id))).deleted_count
            await self._db.profiles.delete_one({"_id": profile_id})
        await self._db.erasures.update_one(
            {"_id": record.inserted_id}, {"$set": {"mentions": len(ids)}}
        )
        return Erased(
            mentions=len(ids),
            corrections=corrections,
            alerts=alerts,
            advocacy=advocacy,
            proposals=proposals,
            merges=merges,
        )

    async def _scrub_alerts(self, names_person: Callable[[object], bool]) -> int:
        """Replace the payload of alerts naming the person; an unsent one is not sent."""
        scrubbed = 0
        async for doc in self._db.alerts.find({}, {"payload": 1, "state": 1}):
            if not names_person(doc.get("payload")):
                continue
            sets: Document = {"payload": {"erased": True}}
            if doc.get("state") in ("pending", "sending"):
                sets.update(state="failed", last_error="Not sent: the person it names was erased.")
            await self._db.alerts.update_one({"_id": doc["_id"]}, {"$set": sets})
            scrubbed += 1
        return scrubbed

    async def erased_among(self, hashes: Collection[str]) -> set[str]:
        """Which of ``hashes`` an erasure recorded.

        ``hashes`` are ``erasure_hash`` values of identity, handle, email or CRM record keys
        (``goodwill.identity``).
        """
        wanted = set(hashes)
        if not wanted:
            return set()
        found: set[str] = set()
        async for doc in self._db.erasures.find(
            {"identity_hashes": {"$in": list(hashes)}}, {"identity_hashes": 1}
        ):
            found.update(h for h in doc.get("identity_hashes") or [] if h in wanted)
        return found
