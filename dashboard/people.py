"""The people behind the mentions, for the dashboard: leaderboards, profiles, merges, erasure.

Cached reads over ``customers.profiles.ProfileStore``, ``customers.exports`` and
``customers.rights`` (through ``dashboard.data``'s background loop), and the actions
people take on a profile, each of which forgets the cached reads it changes.

A leaderboard page is one query for the page (one more row than shown, to know
whether a next page exists) and one for its profiles; the trend of each row shown
(score now against 30 days ago) is computed for that page only, concurrently.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import streamlit as st

from customers import exports, rights
from customers.advocacy import AdvocacyParams
from customers.profiles import ProfileStore
from dashboard import data

__all__ = [
    "LEADERBOARD_PAGE_SIZE",
    "MENTIONS_PAGE_SIZE",
    "TREND_DAYS",
    "Board",
    "BoardFilters",
    "BoardRow",
    "clear",
    "display_name",
    "erase",
    "export_data",
    "export_rows",
    "leaderboard",
    "leaderboard_count",
    "mention",
    "merge",
    "merges",
    "profile",
    "profile_advocacy",
    "profile_mentions",
    "score_history",
    "split",
]

LEADERBOARD_PAGE_SIZE = 20
MENTIONS_PAGE_SIZE = 20
TREND_DAYS = 30
Document = dict[str, Any]


def _profiles() -> ProfileStore:
    return ProfileStore(data.backend().store, AdvocacyParams.from_settings(data.settings()))


def _start_of(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC)


# -- leaderboards ------------------------------------------------------------------------


@dataclass(frozen=True)
class BoardFilters:
    """What a brand's leaderboards show; ``None`` means "any"."""

    brand: str
    min_score: float | None = None  # advocates: at least this (else the advocate threshold)
    max_score: float | None = None  # detractors: at most this
    since: date | None = None  # last mention of the brand on or after this day (UTC)
    source: str | None = None


@dataclass(frozen=True)
class BoardRow:
    """One person on a leaderboard."""

    profile_id: str
    name: str
    handles: str
    score: float
    tier: str
    reach: int
    mentions: int
    last_mention_at: datetime | None
    last_mention_url: str | None
    do_not_contact: bool
    trend: float | None  # score change over TREND_DAYS; None: no score that long ago
    history: tuple[float, ...]  # the score at each day with a mention, oldest first


@dataclass(frozen=True)
class Board:
    """One page of a leaderboard, and whether another follows."""

    rows: list[BoardRow]
    has_next: bool


def _board_query(filters: BoardFilters, kind: str) -> dict[str, Any]:
    since = None if filters.since is None else _start_of(filters.since)
    if kind == "advocate":
        # Everyone at or above the bar, highest first: the same people as the export.
        bar = filters.min_score
        if bar is None:
            bar = float(data.settings().advocate_threshold)
        return {"tier": None, "min_score": bar, "since": since, "source": filters.source}
    return {
        "tier": "detractor",
        "max_score": filters.max_score,
        "since": since,
        "source": filters.source,
    }


def display_name(doc: Document) -> str:
    """A person's name as pages show it: display name, else an identity's name or handle, else the id."""
    identities = doc.get("identities") or []
    return str(
        doc.get("display_name")
        or next((i.get("display_name") for i in identities if i.get("display_name")), None)
        or next((f"@{i['handle']}" for i in identities if i.get("handle")), None)
        or doc.get("profile_id")
        or doc.get("_id")
    )


def _handles(identities: list[Document]) -> str:
    return ", ".join(
        dict.fromkeys(
            f"{i['source']}:@{str(i['handle']).lstrip('@')}"
            for i in identities
            if i.get("handle") and i.get("source")
        )
    )


def _trend(history: list[tuple[datetime, float]], now: datetime) -> float | None:
    """The score now less the score as it stood ``TREND_DAYS`` ago (None when there was none)."""
    if not history:
        return None
    cutoff = now - timedelta(days=TREND_DAYS)
    before = [score for at, score in history if at <= cutoff]
    return None if not before else history[-1][1] - before[-1]


@st.cache_data(ttl=30, show_spinner=False, max_entries=200)
def leaderboard(filters: BoardFilters, kind: str, page: int) -> Board:
    """Page ``page`` of a brand's advocates (``kind="advocate"``) or detractors."""
    profiles = _profiles()
    query = _board_query(filters, kind)
    size = LEADERBOARD_PAGE_SIZE

    async def read() -> tuple[list[Document], list[list[tuple[datetime, float]]]]:
        docs = await profiles.leaderboard(
            filters.brand, **query, limit=size + 1, offset=page * size
        )
        histories = await asyncio.gather(
            *(profiles.score_history(str(doc["profile_id"]), filters.brand) for doc in docs[:size]),
            return_exceptions=True,
        )
        # A profile merged or erased between the two reads has no history: no trend.
        return docs, [h if isinstance(h, list) else [] for h in histories]

    docs, histories = data.run(read())
    now = datetime.now(UTC)
    rows = [
        BoardRow(
            profile_id=str(doc["profile_id"]),
            name=display_name(doc),
            handles=_handles(doc.get("identities") or []),
            score=round(float(doc.get("score") or 0.0), 1),
            tier=str(doc.get("tier") or ""),
            reach=int(doc.get("reach") or 0),
            mentions=int(doc.get("mentions") or 0),
            last_mention_at=doc.get("last_mention_at"),
            last_mention_url=doc.get("last_mention_url"),
            do_not_contact=bool(doc.get("do_not_contact")),
            trend=None if (t := _trend(history, now)) is None else round(t, 1),
            history=tuple(round(score, 1) for _, score in history),
        )
        for doc, history in zip(docs[:size], histories, strict=True)
    ]
    return Board(rows=rows, has_next=len(docs) > size)


@st.cache_data(ttl=30, show_spinner=False, max_entries=200)
def leaderboard_count(filters: BoardFilters, kind: str) -> int:
    """How many people the leaderboard pages through."""
    query = _board_query(filters, kind)
    return data.run(_profiles().leaderboard_count(filters.brand, **query))


def export_rows(filters: BoardFilters) -> list[exports.AdvocateRow]:
    """The CLI's ``goodwill export advocates`` rows for these filters (never do-not-contact)."""
    return data.run(
        exports.advocate_rows(
            data.backend().store,
            filters.brand,
            min_score=filters.min_score,
            since=None if filters.since is None else _start_of(filters.since),
            source=filters.source,
            settings=data.settings(),
        )
    )


# -- one profile -------------------------------------------------------------------------


@st.cache_data(ttl=10, show_spinner=False, max_entries=100)
def profile(reference: str) -> Document:
    """The profile a reference names (id, email, source:handle, identity key).

    Raises:
        ValueError: nothing matches, or several profiles do (the message says which).
    """
    return data.run(_profiles().get(reference))


@st.cache_data(ttl=10, show_spinner=False, max_entries=100)
def profile_advocacy(profile_id: str) -> list[Document]:
    """A profile's advocacy per brand, highest score first."""
    return data.run(_profiles().advocacy_of(profile_id))


@st.cache_data(ttl=60, show_spinner=False, max_entries=200)
def score_history(profile_id: str, brand: str) -> list[tuple[datetime, float]]:
    """The profile's score for ``brand`` at the end of each day it mentioned the brand."""
    return data.run(_profiles().score_history(profile_id, brand))


@st.cache_data(ttl=10, show_spinner=False, max_entries=200)
def profile_mentions(profile_id: str, page: int) -> tuple[list[Document], bool]:
    """Page ``page`` of a profile's mentions, newest first, and whether an older page follows."""
    size = MENTIONS_PAGE_SIZE
    docs = data.run(_profiles().profile_mentions(profile_id, limit=size + 1, offset=page * size))
    return docs[:size], len(docs) > size


@st.cache_data(ttl=10, show_spinner=False, max_entries=100)
def merges(profile_id: str) -> list[Document]:
    """The merges this profile took part in (either side), newest first."""
    return data.run(_profiles().merges.records(profile_id))


@st.cache_data(ttl=10, show_spinner=False, max_entries=200)
def mention(mention_id: str) -> Document | None:
    """One mention by its id (raw payload left out); None for a malformed or unknown id."""
    found: Document | None = data.run(data.backend().store.mentions.get(mention_id))
    return found


def clear() -> None:
    """Forget every cached read about people (after a merge, split or erasure)."""
    for cached in (
        leaderboard,
        leaderboard_count,
        profile,
        profile_advocacy,
        score_history,
        profile_mentions,
        merges,
    ):
        cached.clear()


def merge(into: str, absorbed: str, by: str) -> Document:
    """Merge profile ``absorbed`` into ``into`` (both ids); raises ``ValueError`` when refused."""
    try:
        return data.run(
            _profiles().merges.merge(into, absorbed, by, reason="merged on the dashboard")
        )
    finally:
        clear()


def split(merge_id: str, by: str) -> Document:
    """Undo a merge (by its id); raises ``ValueError`` when refused."""
    try:
        return data.run(_profiles().merges.split(merge_id, by))
    finally:
        clear()


def erase(profile_id: str, by: str) -> rights.ErasureReport:
    """Erase a person (``goodwill profiles erase``), keeping texts as the settings say."""
    keep = bool(data.settings().erase_keeps_text)
    try:
        return data.run(rights.erase(data.backend().store, profile_id, by, keep_text=keep))
    finally:
        clear()
        data.clear_caches()


def export_data(profile_id: str) -> bytes:
    """Everything Goodwill holds about a person, as indented JSON (``goodwill profiles export-data``)."""
    exported = data.run(rights.export_data(data.backend().store, profile_id))
    return json.dumps(exported, indent=2, ensure_ascii=False).encode("utf-8")
