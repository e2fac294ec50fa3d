"""Every query and index of Goodwill, one module per concept, behind one ``Database``.

See ``store.database`` for the concepts and how errors are translated. The embedded
database server that tests and ``goodwill up`` start is ``store.server``.
"""

from store.complaints import CORRECTION_KINDS, Complaints
from store.cursors import Coverage, Cursors, CursorState
from store.database import Database
from store.erasures import Erasures
from store.feed import Feed
from store.mentions import Mentions, UpsertResult
from store.merges import Merges
from store.outbox import Lease, Outbox
from store.profiles import Profiles
from store.queue import Claim, ScoringQueue
from store.rollups import RebuildStats, Rollups
from store.themes import Themes, ThemeWrite

__all__ = [
    "CORRECTION_KINDS",
    "Claim",
    "Complaints",
    "Coverage",
    "CursorState",
    "Cursors",
    "Database",
    "Erasures",
    "Feed",
    "Lease",
    "Mentions",
    "Merges",
    "Outbox",
    "Profiles",
    "RebuildStats",
    "Rollups",
    "ScoringQueue",
    "ThemeWrite",
    "Themes",
    "UpsertResult",
]
