"""Cached loaders of what complaints are about: complaint themes and complaint categories.

Like ``dashboard.data`` (whose loop and store they use), each returns plain values, never
driver documents, and is cached for a short while. Themes come from ``store.themes``
(found by the scorer: ``scoring/theme_jobs.py``); categories from the daily roll-ups
(``store.insights.complaint_categories``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.data import backend, run
from store import insights

__all__ = [
    "BOOTSTRAP_POSTS",
    "CATEGORY_COLUMNS",
    "SPARK_DAYS",
    "ThemePost",
    "ThemeRow",
    "categories",
    "embedded_posts",
    "theme_complaints",
    "theme_names",
    "themes",
]

# What the scorer needs before a brand's first clustering (``ThemeKeeper.bootstrap_min``),
# and how far back it reads (its ``window``).
BOOTSTRAP_POSTS = 50
_CLUSTER_DAYS = 30
# The sparkline of a theme covers the window's last days, at most this many.
SPARK_DAYS = 30
CATEGORY_COLUMNS = ["day", "category", "complaints"]


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


@dataclass(frozen=True)
class ThemePost:
    """A post of a theme: a representative one, or one of its complaints."""

    id: str
    text: str
    url: str | None
    source: str
    created_at: datetime | None
    category: str | None = None


@dataclass(frozen=True)
class ThemeRow:
    """One active theme over a window, as the Themes view lists it."""

    theme_id: str
    name: str
    phrases: tuple[str, ...]
    count: int  # its mentions in the window
    previous: int  # ... in the window as long just before
    complaints: int
    categories: tuple[tuple[str, int], ...]  # most first
    sentiments: tuple[tuple[str, int], ...]
    posts: tuple[ThemePost, ...]  # representatives, most central first
    size: int  # posts when clustered
    clustered_at: datetime | None
    daily: tuple[int, ...]  # complaints per day over the sparkline's days, oldest first


def _post(doc: dict[str, Any]) -> ThemePost:
    verdict = doc.get("complaint") or {}
    return ThemePost(
        id=str(doc["_id"]),
        text=str(doc.get("text") or ""),
        url=doc.get("url"),
        source=str(doc.get("source") or ""),
        created_at=doc.get("created_at"),
        category=verdict.get("category"),
    )


def _ranked(counts: dict[str, int]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(((str(k), int(v)) for k, v in counts.items()), key=lambda p: (-p[1], p[0])))


@st.cache_data(ttl=60, show_spinner=False)
def themes(brand: str, first: date, last: date) -> list[ThemeRow]:
    """``brand``'s active themes over ``first`` to ``last`` (UTC days), most mentions first."""
    since, until = _start_of(first), _start_of(last + timedelta(days=1))
    rows = run(backend().store.themes.window_summary(brand, since, until, posts=3))
    spark_first = max(first, last - timedelta(days=SPARK_DAYS - 1))
    days = [spark_first + timedelta(days=n) for n in range((last - spark_first).days + 1)]
    return [
        ThemeRow(
            theme_id=str(row["theme_id"]),
            name=str(row["name"]),
            phrases=tuple(str(phrase) for phrase in row["phrases"]),
            count=int(row["count"]),
            previous=int(row["previous"]),
            complaints=int(row["complaints"]),
            categories=_ranked(row["categories"]),
            sentiments=_ranked(row["sentiments"]),
            posts=tuple(_post(doc) for doc in row["posts"]),
            size=int(row["size"]),
            clustered_at=row.get("clustered_at"),
            daily=tuple(int(row["daily"].get(_start_of(day), 0)) for day in days),
        )
        for row in rows
    ]


@st.cache_data(ttl=30, show_spinner=False)
def theme_complaints(
    brand: str, theme_id: str, first: date, last: date, limit: int = 200
) -> list[ThemePost]:
    """A theme's complaints created ``first`` to ``last`` (UTC days), newest first, at most ``limit``."""
    docs = run(
        backend().store.themes.latest_complaints(
            brand, theme_id, _start_of(first), _start_of(last + timedelta(days=1)), limit=limit
        )
    )
    return [_post(doc) for doc in docs]


@st.cache_data(ttl=60, show_spinner=False)
def theme_names(brand: str) -> dict[str, str]:
    """``brand``'s active themes: id -> name, largest first."""
    return {
        str(doc["theme_id"]): str(doc.get("name") or doc["theme_id"])
        for doc in run(backend().store.themes.active(brand))
    }


@st.cache_data(ttl=60, show_spinner=False)
def embedded_posts(brand: str) -> int:
    """How many of ``brand``'s posts of the last 30 days the scorer can cluster (with an embedding)."""
    since = datetime.now(UTC) - timedelta(days=_CLUSTER_DAYS)
    return run(backend().store.themes.count_embedded(brand, since))


@st.cache_data(ttl=30, show_spinner=False)
def categories(brand: str, first: date, last: date) -> pd.DataFrame:
    """``brand``'s complaints per UTC day and category, ``first`` to ``last`` inclusive.

    Columns ``CATEGORY_COLUMNS``: ``day`` (a date), ``category``, ``complaints``.
    """
    docs = run(
        insights.complaint_categories(
            backend().store, brand, _start_of(first), _start_of(last + timedelta(days=1))
        )
    )
    rows = [{**doc, "day": doc["day"].date()} for doc in docs]
    return pd.DataFrame(rows, columns=CATEGORY_COLUMNS)
