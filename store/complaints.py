"""Complaints as people handle them: corrections of the model's labels, and the queue's workflow.

Corrections keep their whole history (``corrections``) and the latest one on the
mention. The queue lists open complaints with their author's customer record; its
actions (assign, acknowledge, resolve, tag, note) each leave a history entry.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from goodwill.errors import InvalidRequest, NotFound, StoreError
from goodwill.models import SentimentLabel, utcnow
from store._common import Document, object_id, time_range, translating_errors
from store.feed import newest_first
from store.rollups import INFLIGHT_LEASE, UNSCORED, Rollups, counted_of, key_of, moved

__all__ = ["CORRECTION_KINDS", "INDEXES", "Complaints"]

INDEXES: dict[str, list[IndexModel]] = {
    "corrections": [
        IndexModel([("mention_id", ASCENDING), ("at", DESCENDING)], name="mention_time"),
        IndexModel([("at", DESCENDING)], name="at"),
    ],
}

CORRECTION_KINDS: tuple[str, ...] = ("complaint", "negative_opinion", "question", "other")
_SENTIMENT_VALUES: tuple[str, ...] = tuple(label.value for label in SentimentLabel)
_MAX_NAME = 100
_MAX_NOTE = 2000
# What a correction reads of its mention to move the mention's counts.
_COUNTING_FIELDS: Document = {
    "brand": 1,
    "source": 1,
    "created_at": 1,
    "sentiment": 1,
    "complaint": 1,
    "counted": 1,
    "score_state": 1,
    "scored_at": 1,
    "skipped": 1,
    "rating": 1,
}
# How many times a correction is written again when the mention moved under it.
_ATTEMPTS = 5


@translating_errors
class Complaints:
    """Corrections, and the complaints queue with its workflow."""

    VIEWS = ("all", "unassigned", "mine", "overdue")
    ORDERS = ("newest", "value")
    VALUE_ORDER_DAYS = 30
    VALUE_ORDER_CAP = 1000
    BULK_ASSIGN_CAP = 500
    ACTIONS = ("assign", "acknowledge", "resolve", "tag", "note")
    STATES = ("open", "acknowledged", "resolved")
    OVERDUE_AFTER = timedelta(hours=24)

    def __init__(self, db: AsyncDatabase[Document], rollups: Rollups) -> None:
        self._db = db
        self._rollups = rollups

    async def correct(
        self,
        mention_id: str | ObjectId,
        *,
        sentiment: str | None = None,
        complaint: bool | None = None,
        kind: str | None = None,
        by: str,
        note: str | None = None,
    ) -> None:
        """Record a person's correction of a mention's labels.

        Adds a document to ``corrections`` (the history: every correction is kept, with
        the mention's text and what the model had said) and replaces the mention's
        ``correction`` with ``{sentiment, complaint, kind, by, at}``. A ``None`` value is
        "not judged". ``complaint`` left out follows from ``kind``; ``complaint=True``
        without a kind means kind ``complaint``. The model's own fields are not changed.

        Raises:
            InvalidRequest: a malformed or unknown mention id, a sentiment or kind outside its
                set, a kind that contradicts ``complaint``, nothing corrected, no name.
        """
        oid = object_id(mention_id)
        sentiment, complaint, kind = _correction_values(sentiment, complaint, kind)
        who = by.strip() if isinstance(by, str) else ""
        if not who:
            raise InvalidRequest("A correction needs the name of who made it.")
        if len(who) > _MAX_NAME:
            raise InvalidRequest(f"A name is at most {_MAX_NAME} characters.")
        if note is not None and not isinstance(note, str):
            raise InvalidRequest("A note is text.")
        note = (note or "").strip() or None
        if note is not None and len(note) > _MAX_NOTE:
            raise InvalidRequest(f"A note is at most {_MAX_NOTE} characters.")
        mention = await self._db.mentions.find_one({"_id": oid}, {"text": 1, **_COUNTING_FIELDS})
        if mention is None:
            raise NotFound(f"No mention has the id {oid}; it may have been erased.")
        model = mention.get("sentiment") or {}
        verdict = mention.get("complaint") or {}
        at = utcnow()
        await self._db.corrections.insert_one(
            {
                "mention_id": oid,
                "text": mention.get("text", ""),
                "brand": mention.get("brand"),
                "source": mention.get("source"),
                "model_version": model.get("model_version"),
                "model_label": model.get("label"),
                "model_complaint": verdict.get("is_complaint"),
                "model_kind": verdict.get("kind"),
                "sentiment": sentiment,
                "complaint": complaint,
                "kind": kind,
                "by": who,
                "note": note,
                "at": at,
            }
        )
        correction: Document = {
            "sentiment": sentiment,
            "complaint": complaint,
            "kind": kind,
            "by": who,
            "at": at,
        }
        for _ in range(_ATTEMPTS):
            if await self._write(mention, correction):
                return
            # A scorer or another correction changed the mention since it was read.
            mention = await self._db.mentions.find_one({"_id": oid}, _COUNTING_FIELDS)
            if mention is None:
                raise NotFound(f"No mention has the id {oid}; it may have been erased.")
        raise StoreError(
            f"The mention {oid} kept changing while the correction was saved; save it again."
        )

    async def _write(self, mention: Document, correction: Document) -> bool:
        """Put ``correction`` on the mention and move its counts to it; False if the mention moved.

        Crash-safe as a scorer's batch is: the roll-up document is marked in flight
        (``Rollups.begin``) before the mention changes, and the correction and the
        mention's ``counted`` verdict are one write, so a process that dies in between
        leaves an entry that ``Rollups.repair`` recounts from what the mention says. The
        write holds only while the mention is as it was read (state, scoring time,
        verdict), so a scorer or a second correction that got there first is never
        overwritten with stale counts. A mention waiting for the scorer, or being scored,
        gets the correction alone: its scorer counts it (``ScoringQueue.save``, which
        writes nothing over a correction it did not read).
        """
        state = mention.get("score_state")
        old = mention.get("counted")
        as_read: Document = {
            "_id": mention["_id"],
            "score_state": state,
            "scored_at": mention.get("scored_at"),
            "counted": old,
        }
        if state not in ("scored", "skipped") or not old:
            found = await self._db.mentions.update_one(
                as_read, {"$set": {"correction": correction}}
            )
            return bool(found.matched_count)
        if state == "skipped":
            language = (mention.get("skipped") or {}).get("language")
            new = counted_of(
                UNSCORED, False, correction, language=language, rating=mention.get("rating")
            )
        else:
            label = (mention.get("sentiment") or {}).get("label")
            verdict = mention.get("complaint") or {}
            new = counted_of(
                label,
                bool(verdict.get("is_complaint")),
                correction,
                rating=mention.get("rating"),
                category=verdict.get("category"),
            )
        key = key_of(mention)
        token = f"correction:{mention['_id']}:{secrets.token_hex(4)}"
        await self._rollups.begin(token, [key], utcnow() + INFLIGHT_LEASE)
        written = await self._db.mentions.update_one(
            as_read, {"$set": {"correction": correction, "counted": new}}
        )
        await self._rollups.commit(token, {key: moved(old, new) if written.matched_count else {}})
        return bool(written.matched_count)

    async def corrections(
        self, *, limit: int = 100, since: datetime | None = None
    ) -> list[Document]:
        """The correction history, newest first: at most ``limit``, made at or after ``since``."""
        if limit <= 0:
            return []
        query: Document = {} if since is None else {"at": {"$gte": since}}
        cursor = (
            self._db.corrections.find(query, {"_id": 0})
            .sort([("at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
        )
        return [doc async for doc in cursor]

    async def latest_corrections(self) -> list[Document]:
        """The latest correction of each corrected mention, newest first (for evaluation and training)."""
        latest: dict[Any, Document] = {}
        # Oldest first, so each mention ends on its latest. Done here rather than with
        # $sort + $group/$first: corrections are few (people make them one by one).
        cursor = self._db.corrections.find({}).sort([("at", ASCENDING), ("_id", ASCENDING)])
        async for doc in cursor:
            latest[doc["mention_id"]] = doc
        ordered = sorted(latest.values(), key=lambda doc: (doc["at"], doc["_id"]), reverse=True)
        for doc in ordered:
            del doc["_id"]
        return ordered

    async def queue(
        self,
        brand: str | None = None,
        view: str = "all",
        by: str | None = None,
        now: datetime | None = None,
        skip: int = 0,
        limit: int = 25,
        order: str = "newest",
        theme_id: str | None = None,
    ) -> list[Document]:
        """One page of open complaints (not resolved), raw payloads left out, each with
        ``customer`` (its author's profile: name, CRM value and tier) when known.

        ``theme_id`` keeps the complaints of one complaint theme of ``brand`` (a theme id
        is a brand's own: it needs ``brand``).

        ``view`` is one of ``Complaints.VIEWS``: ``all`` open ones, ``unassigned``, ``mine``
        (assigned to ``by``), or ``overdue`` (created more than 24 h before ``now``).
        ``order`` is ``newest`` (newest first) or ``value``: the open complaints of the last
        ``VALUE_ORDER_DAYS`` days (at most ``VALUE_ORDER_CAP`` of them, newest kept),
        highest customer value first and, at equal value, the longest waiting first.

        Raises:
            InvalidRequest: an unknown view or order, ``mine`` without a name, or a theme
                without a brand.
        """
        if view not in self.VIEWS:
            raise InvalidRequest(f"View must be one of {', '.join(self.VIEWS)}; got {view!r}.")
        if order not in self.ORDERS:
            raise InvalidRequest(f"Order must be one of {', '.join(self.ORDERS)}; got {order!r}.")
        query: Document = {
            # ``$all: [True]`` is ``== True`` for a flag; written so because the embedded
            # server picks an index with an equality prefix (``complaint_scored``) over
            # the time indexes, and would read every complaint ever made for one page.
            "counted.complaint": {"$all": [True]},
            "handling.state": {"$ne": "resolved"},
        }
        if brand is not None:
            query["brand"] = {"$eq": str(brand)}
        if theme_id is not None and brand is None:
            raise InvalidRequest("A theme is a brand's own: choose the brand to filter by theme.")
        assignees: tuple[str | None, ...] | None = None
        if view == "unassigned":
            assignees = (None, "")
        elif view == "mine":
            who = by.strip() if isinstance(by, str) else ""
            if not who:
                raise InvalidRequest("The view 'mine' needs your name.")
            assignees = (who,)
        if view == "unassigned":
            query["handling.assignee"] = {"$in": [None, ""]}
        elif assignees is not None:
            query["handling.assignee"] = {"$eq": assignees[0]}
        until = None
        if view == "overdue":
            until = (now or utcnow()) - self.OVERDUE_AFTER

        async def newest(since: datetime | None, skip: int, limit: int) -> list[Document]:
            if theme_id is None:
                return await newest_first(self._db.mentions, query, since, until, skip, limit)
            return await self._theme_newest(
                str(brand), str(theme_id), assignees, since, until, skip, limit
            )

        if order == "newest":
            return await self._with_customers(await newest(None, skip, limit))
        since = (now or utcnow()) - timedelta(days=self.VALUE_ORDER_DAYS)
        recent = await self._with_customers(await newest(since, 0, self.VALUE_ORDER_CAP))
        recent.sort(
            key=lambda doc: (
                -float((doc.get("customer") or {}).get("value") or 0),
                doc["created_at"],
            )
        )
        return recent[max(skip, 0) : max(skip, 0) + max(limit, 0)]

    async def _theme_newest(
        self,
        brand: str,
        theme_id: str,
        assignees: tuple[str | None, ...] | None,
        since: datetime | None,
        until: datetime | None,
        skip: int,
        limit: int,
    ) -> list[Document]:
        """``newest_first`` of one theme's open complaints (assigned to one of ``assignees``
        when given), read along the ``brand_theme_time`` index.

        The theme's mentions are read as exactly ``{brand: "<str>", theme_id: "<str>",
        created_at: range}``, the one form the embedded server serves from that index
        (any further condition makes it read every mention), a few fields each; the
        conditions are checked here, and only the page's mentions are read whole.
        """
        query: Document = {"brand": brand, "theme_id": theme_id}
        window = time_range(since, until)
        if window:
            query["created_at"] = window
        fields = {"created_at": 1, "counted.complaint": 1, "handling": 1}
        listed = []
        async for doc in self._db.mentions.find(query, fields):
            handling = doc.get("handling") or {}
            if (doc.get("counted") or {}).get("complaint") is not True:
                continue
            if handling.get("state") == "resolved":
                continue
            if assignees is not None and handling.get("assignee") not in assignees:
                continue
            listed.append((doc["created_at"], doc["_id"]))
        listed.sort(reverse=True)
        ids = [mention_id for _, mention_id in listed[max(skip, 0) : max(skip, 0) + max(limit, 0)]]
        if not ids:
            return []
        docs = {
            doc["_id"]: doc
            async for doc in self._db.mentions.find(
                {"_id": {"$in": ids}}, {"raw": 0, "claim": 0, "embedding": 0}
            )
        }
        return [docs[mention_id] for mention_id in ids if mention_id in docs]

    async def _with_customers(self, docs: list[Document]) -> list[Document]:
        """``docs`` each with ``customer``: their author's profile name, value and tier (one query)."""
        ids = sorted({doc["profile_id"] for doc in docs if doc.get("profile_id")})
        if not ids:
            return docs
        fields = {"display_name": 1, "value": 1, "tier": 1}
        people = {
            doc["_id"]: doc async for doc in self._db.profiles.find({"_id": {"$in": ids}}, fields)
        }
        for doc in docs:
            person = people.get(doc.get("profile_id"))
            if person is not None:
                doc["customer"] = {
                    "name": person.get("display_name"),
                    "value": person.get("value"),
                    "tier": person.get("tier"),
                }
        return docs

    async def handle(
        self, mention_id: str | ObjectId, action: str, by: str, value: str | None = None
    ) -> Document:
        """Apply one workflow action to a complaint and return its new ``handling``.

        Every action appends ``{action, by, at, value}`` to ``handling.history``.
        ``assign`` sets ``handling.assignee`` to ``value``; ``acknowledge`` and
        ``resolve`` move ``handling.state`` (open -> acknowledged -> resolved);
        ``tag`` adds ``value`` to ``handling.tags``; ``note`` records ``value`` only.
        Values are stored as literal strings, never read as operators.

        Raises:
            InvalidRequest: an unknown action, a malformed id, no such complaint, a missing or
                too long name or value, or acknowledging a resolved complaint.
        """
        if not isinstance(action, str) or action not in self.ACTIONS:
            raise InvalidRequest(
                f"Action must be one of {', '.join(self.ACTIONS)}; got {action!r}."
            )
        oid = object_id(mention_id)
        who = by.strip() if isinstance(by, str) else ""
        if not who:
            raise InvalidRequest("A complaint action needs the name of who takes it.")
        if len(who) > _MAX_NAME:
            raise InvalidRequest(f"A name is at most {_MAX_NAME} characters.")
        if value is not None and not isinstance(value, str):
            raise InvalidRequest("A value is text.")
        text = (value or "").strip() or None
        limit = _MAX_NOTE if action == "note" else _MAX_NAME
        if action in ("assign", "tag", "note") and text is None:
            raise InvalidRequest(f"The action {action!r} needs a value.")
        if text is not None and len(text) > limit:
            raise InvalidRequest(f"A value for {action!r} is at most {limit} characters.")
        if action in ("acknowledge", "resolve"):
            text = None
        found = await self._db.mentions.find_one(
            {"_id": oid, "counted.complaint": {"$eq": True}}, {"handling": 1}
        )
        if found is None:
            raise NotFound(f"No complaint has the id {oid}; it may have been erased.")
        state = (found.get("handling") or {}).get("state") or "open"
        if action == "acknowledge":
            if state == "resolved":
                raise InvalidRequest("This complaint is already resolved.")
            state = "acknowledged"
        elif action == "resolve":
            state = "resolved"
        entry: Document = {"action": action, "by": who, "at": utcnow(), "value": text}
        update: Document = {
            "$set": {"handling.state": state},
            "$push": {"handling.history": entry},
        }
        if action == "assign":
            update["$set"]["handling.assignee"] = text
        elif action == "tag":
            update["$addToSet"] = {"handling.tags": text}
        updated = await self._db.mentions.find_one_and_update(
            {"_id": oid},
            update,
            projection={"handling": 1},
            return_document=ReturnDocument.AFTER,
        )
        if updated is None:
            raise NotFound(f"No complaint has the id {oid}; it may have been erased.")
        handling: Document = updated.get("handling") or {}
        return handling

    async def assign_many(
        self, mention_ids: Iterable[str | ObjectId], assignee: str, by: str
    ) -> int:
        """Assign several complaints to ``assignee`` at once, as ``by``'s action; returns how many.

        One conditional update: of the ids, only complaints still open (counted a
        complaint, not resolved) and not already assigned to ``assignee`` change, so a
        complaint resolved or reassigned meanwhile is left as it is. Each gets
        ``handling.assignee`` and the history entry ``handle`` writes
        (``{action: "assign", by, at, value}``). At most ``BULK_ASSIGN_CAP`` ids.

        Raises:
            InvalidRequest: a malformed id, too many ids, or a missing or too long name.
        """
        oids = sorted({object_id(mention_id) for mention_id in mention_ids})
        if len(oids) > self.BULK_ASSIGN_CAP:
            raise InvalidRequest(
                f"At most {self.BULK_ASSIGN_CAP} complaints are assigned at once; got {len(oids)}."
            )
        who = by.strip() if isinstance(by, str) else ""
        target = assignee.strip() if isinstance(assignee, str) else ""
        if not who:
            raise InvalidRequest("A complaint action needs the name of who takes it.")
        if not target:
            raise InvalidRequest("The action 'assign' needs a value.")
        if max(len(who), len(target)) > _MAX_NAME:
            raise InvalidRequest(f"A name is at most {_MAX_NAME} characters.")
        if not oids:
            return 0
        entry: Document = {"action": "assign", "by": who, "at": utcnow(), "value": target}
        result = await self._db.mentions.update_many(
            {
                "_id": {"$in": oids},
                "counted.complaint": {"$eq": True},
                "handling.state": {"$ne": "resolved"},
                "handling.assignee": {"$ne": target},
            },
            {"$set": {"handling.assignee": target}, "$push": {"handling.history": entry}},
        )
        return int(result.modified_count)


def _correction_values(
    sentiment: object, complaint: object, kind: object
) -> tuple[str | None, bool | None, str | None]:
    """Checked (sentiment, complaint, kind) of a correction, the complaint flag and kind agreeing."""
    if sentiment is not None and (
        not isinstance(sentiment, str) or sentiment not in _SENTIMENT_VALUES
    ):
        raise InvalidRequest(
            f"Sentiment must be one of {', '.join(_SENTIMENT_VALUES)}; got {sentiment!r}."
        )
    if kind is not None and (not isinstance(kind, str) or kind not in CORRECTION_KINDS):
        raise InvalidRequest(f"Kind must be one of {', '.join(CORRECTION_KINDS)}; got {kind!r}.")
    if complaint is not None and not isinstance(complaint, bool):
        raise InvalidRequest(f"Complaint must be true or false; got {complaint!r}.")
    if complaint is None and kind is not None:
        complaint = kind == "complaint"
    elif complaint is True and kind is None:
        kind = "complaint"
    elif kind is not None and complaint != (kind == "complaint"):
        raise InvalidRequest(
            f"A post of kind {kind!r} is "
            + ("not a complaint" if complaint else "a complaint")
            + "; choose a kind that agrees with the complaint flag."
        )
    if sentiment is None and complaint is None:
        raise InvalidRequest("A correction needs a sentiment, a complaint verdict or a kind.")
    return (
        None if sentiment is None else SentimentLabel(sentiment).value,
        complaint,
        None if kind is None else str(kind),
    )
