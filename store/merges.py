"""Merges of two profiles into one, kept so that each can be undone exactly, and proposals.

Collections: ``merges`` (what each merge moved, for an exact split) and
``merge_proposals`` (pairs Goodwill thinks are one person, for a person to accept or
reject). The customer domain decides; this module only reads and writes.
"""

from __future__ import annotations

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from store._common import Document, translating_errors

__all__ = ["INDEXES", "Merges"]

INDEXES: dict[str, list[IndexModel]] = {
    "merges": [
        IndexModel([("absorbed", ASCENDING)], name="absorbed"),
        IndexModel([("into", ASCENDING)], name="into"),
    ],
}


@translating_errors
class Merges:
    """Queries of ``merges`` and ``merge_proposals``."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._db = db
