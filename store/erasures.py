"""A person's erasure: everything held about them gathered or removed, and what stays erased.

Collection ``erasures``: one record per erasure, with the hashes of the person's
identity and handle keys, so that a later collection or CRM import never stores their
author fields again (``store.mentions`` and the CRM import check them). The customer
domain (``customers/rights.py``) decides what a person is; this module reads and writes.
"""

from __future__ import annotations

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from store._common import Document, translating_errors

__all__ = ["INDEXES", "Erasures"]

INDEXES: dict[str, list[IndexModel]] = {}


@translating_errors
class Erasures:
    """Queries of ``erasures`` and, for one person, of every collection that holds their data."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._db = db
