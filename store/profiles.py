"""Customer profiles: the people behind mentions, their identities, and advocacy per brand.

Collections: ``profiles`` (one per person: identities across networks, emails, CRM
fields, counts), ``advocacy`` (one per person x brand), ``refresh_journal`` (advocacy
refreshes a scorer owes) and ``maintenance`` (the day's full recompute's marker). The
customer domain (``customers/``) decides what to write; this module only reads and writes.
"""

from __future__ import annotations

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from store._common import Document, translating_errors

__all__ = ["INDEXES", "Profiles"]

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
    # Advocacy refreshes a scorer owes (customers/profiles.py, ProfileStore.journal_refresh).
    "refresh_journal": [IndexModel([("expires", ASCENDING)], name="expires")],
}


@translating_errors
class Profiles:
    """Queries of ``profiles``, ``advocacy``, ``refresh_journal`` and ``maintenance``."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._db = db
