"""A person's erasure: everything held about them gathered or removed, and what stays erased.

Collection ``erasures``: one record per erasure, with the hashes of the person's
identity and handle keys, emails and CRM record ids (``identity_hashes``), so that a
later collection never stores their author fields again and a CRM import never brings
them back (``store.mentions`` and the CRM import check them). The customer
domain (``customers/rights.py``) decides who a person is and which keys are theirs, as
a ``Subject``; this module finds their data in every collection that holds it, reads
it and removes it.

**Alerts** are found by id, never by their text: the ``about`` lists an alert carries
(mention ids, profile ids, author keys; ``alerts.engine`` writes them), and for alerts
an older Goodwill wrote without them, the ids their payload holds in known places
(``mention_id``, ``profile_id``, ``who.profile_id``, the ``mention_id`` of top posts and
top complaints, the ``profile_id`` of new advocates) and a complaint's exact
``source`` + ``who.handle``. An alert about the person (a complaint of theirs, their tier
change) loses its payload; a digest or spike that lists one of their posts among others
loses only that entry.

**Dead letters** (payloads that could not be parsed) are found by the author keys the
collector read from them (``authors``, see ``collector.dead_letters``). One whose author
could not be read (``authors`` null) is searched, as a fallback: it is the person's when a
string in it is exactly one of their handles or non-numeric account ids (any case, with
or without ``@``) or contains one of their emails. The search is bounded: only those dead
letters, kept no longer than their retention, and whole values, never substrings of a
handle, so a person called "acme" does not take every dead letter mentioning Acme; a
numeric id alone (Stack Exchange, GitHub) is too common to search for. A matched dead
letter is deleted.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

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
    emails: frozenset[str] = frozenset()

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

    def alerts_query(self, mention_ids: Collection[object]) -> Document:
        """Alerts about the person or their ``mention_ids``, by id (see the module docstring)."""
        ids = sorted({str(m) for m in mention_ids})
        pid = self.profile_id
        clauses: list[Document] = []
        if ids:
            clauses += [
                {field: {"$in": ids}}
                for field in (
                    "about.mentions",
                    "payload.mention_id",
                    "payload.top_posts.mention_id",
                    "payload.top_complaints.mention_id",
                )
            ]
        if pid is not None:
            clauses += [
                {field: pid}
                for field in (
                    "about.profiles",
                    "payload.profile_id",
                    "payload.who.profile_id",
                    "payload.new_advocates.profile_id",
                )
            ]
        if self.keys:
            clauses.append({"about.authors": {"$in": sorted(self.keys)}})
        for author in self.authors:
            if author.source and author.handle:
                handle = re.escape(author.handle.lstrip("@"))
                clauses.append(
                    {
                        "payload.source": author.source,
                        "payload.who.handle": {"$regex": f"^@?{handle}$", "$options": "i"},
                    }
                )
        return {"$or": clauses} if clauses else _nothing()

    def in_payload(self, payload: Any) -> bool:
        """Whether a dead letter's payload whose author is unknown names the person.

        A string in it is exactly one of their handles or non-numeric account ids (any
        case, ``@`` or not), or contains one of their emails (see the module docstring).
        """
        exact = {
            name.strip().lstrip("@").casefold()
            for author in self.authors
            for name in (author.handle, author.id)
            if name and not name.strip().isdigit() and len(name.strip().lstrip("@")) >= 2
        }
        emails = [
            re.compile(rf"(?<![\w.+-]){re.escape(email.strip())}(?![\w-])", re.IGNORECASE)
            for email in self.emails
            if email.strip()
        ]
        if not exact and not emails:
            return False
        for text in _strings(payload):
            if text.strip().lstrip("@").casefold() in exact:
                return True
            if "@" in text and any(email.search(text) for email in emails):
                return True
        return False


def _strings(value: Any, depth: int = 0) -> Iterator[str]:
    """Every string in a JSON-like value (keys too), 64 levels deep at most."""
    if depth > 64:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item, depth + 1)


@dataclass(frozen=True)
class Held:
    """Everything held about a person, as stored (see ``Erasures.held``)."""

    mentions: list[Document]
    corrections: list[Document]
    advocacy: list[Document]
    merges: list[Document]
    merge_proposals: list[Document]
    dead_letters: list[Document]


@dataclass(frozen=True)
class Erased:
    """What an erasure changed: documents anonymised, scrubbed or deleted, per collection."""

    mentions: int
    corrections: int
    alerts: int
    advocacy: int
    proposals: int
    merges: int
    dead_letters: int


def _involving(profile_id: str | None) -> Document:
    """Merge proposals that pair the profile with another."""
    return {"$or": [{"a": profile_id}, {"b": profile_id}]} if profile_id else _nothing()


def _merged_with(profile_id: str | None) -> Document:
    """Merge records in which the profile absorbed another or was absorbed."""
    if not profile_id:
        return _nothing()
    return {"$or": [{"into": profile_id}, {"absorbed": profile_id}]}


# Lists of several people's posts or profiles in a payload (a spike's, a digest's).
_LISTS = ("top_posts", "top_complaints", "new_advocates")


def _mapping(value: object) -> Document:
    """``value`` if it is a document, else an empty one (an odd legacy payload)."""
    return value if isinstance(value, dict) else {}


def _about_them(payload: Document, subject: Subject, mention_ids: Collection[str]) -> bool:
    """Whether an alert's payload is about the person as a whole (their complaint, tier...)."""
    who = _mapping(payload.get("who"))
    pid = subject.profile_id
    if str(payload.get("mention_id")) in mention_ids:
        return True
    if pid is not None and pid in (payload.get("profile_id"), who.get("profile_id")):
        return True
    handle = who.get("handle")
    return isinstance(handle, str) and any(
        author.handle is not None
        and author.source == payload.get("source")
        and author.handle.lstrip("@").casefold() == handle.lstrip("@").casefold()
        for author in subject.authors
    )


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
        # A complaint's embedding (float16 bytes, store/themes.py) is the model's reading of
        # the text exported beside it, not readable data of the person: left out.
        mentions = [
            doc async for doc in self._db.mentions.find(subject.mentions_query(), {"embedding": 0})
        ]
        for mention in mentions:
            mention.pop("claim", None)
        ids = [mention["_id"] for mention in mentions]
        corrections = [doc async for doc in self._db.corrections.find({"mention_id": {"$in": ids}})]
        pid = subject.profile_id
        advocacy = [doc async for doc in self._db.advocacy.find({"profile_id": pid})] if pid else []
        merges = [doc async for doc in self._db.merges.find(_merged_with(pid))]
        proposals = [doc async for doc in self._db.merge_proposals.find(_involving(pid))]
        dead_letters = await self.dead_letters(subject)
        return Held(mentions, corrections, advocacy, merges, proposals, dead_letters)

    async def dead_letters(self, subject: Subject) -> list[Document]:
        """``subject``'s dead letters: by their author keys, else by the bounded search.

        See the module docstring; those whose author is someone else are never searched.
        """
        found: list[Document] = []
        if subject.keys:
            query = {"authors": {"$in": sorted(subject.keys)}}
            found += [doc async for doc in self._db.dead_letters.find(query)]
        async for doc in self._db.dead_letters.find({"authors": None, "payload": {"$ne": None}}):
            if subject.in_payload(doc.get("payload")):
                found.append(doc)
        return found

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
        subject: Subject,
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
        3. every alert about ``subject`` or their mentions (by id, see the module
           docstring) gets its payload replaced, and is not sent if it was not yet; a
           digest or spike loses only the entries of their posts or profile; their dead
           letters are deleted;
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
        alerts = await self._scrub_alerts(subject, ids)
        letters = [doc["_id"] for doc in await self.dead_letters(subject)]
        dead_letters = 0
        if letters:
            deleted = await self._db.dead_letters.delete_many({"_id": {"$in": letters}})
            dead_letters = deleted.deleted_count
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
            dead_letters=dead_letters,
        )

    async def _scrub_alerts(self, subject: Subject, mention_ids: Sequence[object]) -> int:
        """Scrub the alerts about the person (see ``erase``, step 3); how many were."""
        ids = {str(m) for m in mention_ids}
        pid = subject.profile_id
        scrubbed = 0
        query = subject.alerts_query(ids)
        async for doc in self._db.alerts.find(query, {"payload": 1, "state": 1, "about": 1}):
            payload: Document = _mapping(doc.get("payload"))
            about: Document = _mapping(doc.get("about"))
            listed = {
                name: [
                    item
                    for item in payload[name]
                    if not isinstance(item, dict)
                    or not (
                        str(item.get("mention_id")) in ids
                        or (pid is not None and item.get("profile_id") == pid)
                    )
                ]
                for name in _LISTS
                if isinstance(payload.get(name), list)
            }
            whole = _about_them(payload, subject, ids) or not listed
            sets: Document
            if whole:
                sets = {"payload": {"erased": True}, "about": {}}
                if doc.get("state") in ("pending", "sending"):
                    sets.update(
                        state="failed", last_error="Not sent: the person it names was erased."
                    )
            else:  # a digest or spike: only the entries of their posts or profile go
                sets = {f"payload.{name}": items for name, items in listed.items()}
                sets["about"] = {
                    "mentions": [m for m in about.get("mentions") or () if m not in ids],
                    "profiles": [p for p in about.get("profiles") or () if p != pid],
                    "authors": [a for a in about.get("authors") or () if a not in subject.keys],
                }
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
