"""The one object through which Goodwill talks to MongoDB.

``Database.open(uri, name)`` connects, checks the server answers and creates every
collection's indexes (idempotently); ``close()`` closes the client (twice is harmless).
Each concept has its own module and object, reached as an attribute:

==================  ===========================================================
``mentions``        the collected mentions (upsert that never duplicates, reads)
``queue``           the scoring queue (claims under a lease, score writes)
``rollups``         daily counts per brand x day x source, exact across crashes
``cursors``         where each brand x source stands, leases, dead letters
``feed``            the dashboard's pages of mentions and their counts
``complaints``      corrections and the complaints queue's workflow
``outbox``          alerts: the outbox, the engine's state, what rules read
``profiles``        customer profiles, their identities and advocacy per brand
``merges``          merge records (exact splits) and merge proposals
``erasures``        a person's erasure: what is removed, and hashes never stored again
``themes``          complaint themes, mentions' theme ids, the re-clustering lease
==================  ===========================================================

Every public coroutine of these objects raises ``StoreError`` (never a driver error)
when the database is unreachable or refuses an operation, and ``InvalidRequest`` /
``NotFound`` for a request that is malformed or names nothing. The driver is PyMongo's
async client (the official successor of motor); nothing outside this package holds a
collection.

The embedded server (SecantusDB) lacks text indexes, ``$where``/``$function`` and
index-served sorts; the queries here avoid them, so they run the same on MongoDB.
"""

from __future__ import annotations

from datetime import timedelta

from pymongo import AsyncMongoClient, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from goodwill.errors import StoreError
from store import (
    complaints,
    cursors,
    erasures,
    mentions,
    merges,
    outbox,
    profiles,
    rollups,
    themes,
)
from store._common import Document, redact
from store.complaints import Complaints
from store.cursors import Cursors
from store.erasures import Erasures
from store.feed import Feed
from store.mentions import Mentions
from store.merges import Merges
from store.outbox import Outbox
from store.profiles import Profiles
from store.queue import ScoringQueue
from store.rollups import Rollups
from store.themes import Themes

__all__ = ["Database"]


def _indexes() -> dict[str, list[IndexModel]]:
    """Every collection's indexes, as each concept's module declares them."""
    merged: dict[str, list[IndexModel]] = {}
    for declared in (
        mentions.INDEXES,
        cursors.INDEXES,
        rollups.INDEXES,
        complaints.INDEXES,
        outbox.INDEXES,
        profiles.INDEXES,
        merges.INDEXES,
        erasures.INDEXES,
        themes.INDEXES,
    ):
        for name, models in declared.items():
            merged.setdefault(name, []).extend(models)
    return merged


def _direction(value: object) -> object:
    """An index key's direction as one type (servers give 1, 1.0 or -1)."""
    return int(value) if isinstance(value, int | float) else value


class Database:
    """Goodwill's MongoDB database. Create with ``Database.open(uri, name)``; see the module."""

    def __init__(self, client: AsyncMongoClient[Document], database: str) -> None:
        self._client = client
        self._db: AsyncDatabase[Document] = client[database]
        self._closed = False
        self.mentions = Mentions(self._db)
        self.rollups = Rollups(self._db.rollups, self._db.mentions)
        self.queue = ScoringQueue(self._db, self.rollups)
        self.cursors = Cursors(self._db)
        self.feed = Feed(self._db)
        self.complaints = Complaints(self._db, self.rollups)
        self.outbox = Outbox(self._db)
        self.profiles = Profiles(self._db)
        self.merges = Merges(self._db)
        self.erasures = Erasures(self._db)
        self.themes = Themes(self._db)

    @classmethod
    async def open(
        cls,
        uri: str,
        database: str,
        *,
        timeout_ms: int = 5000,
        dead_letter_retention: timedelta | None = None,
    ) -> Database:
        """Connect, check the server answers, and create indexes (idempotent).

        ``dead_letter_retention``: how long dead letters are kept (the service passes
        ``GOODWILL_DEAD_LETTER_RETENTION_DAYS``); ``None`` keeps what is set, 30 days at first.
        """
        client: AsyncMongoClient[Document] = AsyncMongoClient(
            uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms, tz_aware=True
        )
        opened = cls(client, database)
        try:
            await opened.ping()
            await opened.ensure_indexes(dead_letter_retention)
            corrected = await opened.mentions.fill_counted()
            corrected += await opened.mentions.fill_stars()
            corrected += await opened.mentions.fill_categories()
            await opened.rollups.recount(corrected)
        except BaseException:
            await opened.close()
            raise
        return opened

    async def close(self) -> None:
        """Close the client; harmless when already closed."""
        if not self._closed:
            self._closed = True
            await self._client.close()

    def collection(self, name: str) -> AsyncCollection[Document]:
        """One of Goodwill's collections, by name: for this package's modules, tests and the
        benchmarks' raw baselines.

        Code outside the store package never calls it (a test checks): it goes through
        the concept objects above, which translate errors.
        """
        return self._db[name]

    async def ping(self) -> None:
        """Raise ``StoreError`` unless the server answers."""
        try:
            await self._client.admin.command("ping")
        except PyMongoError as error:
            raise StoreError(
                f"The database at {redact(self._client)} does not answer ({error.__class__.__name__}). "
                "Start it with `goodwill db start`, or check GOODWILL_MONGODB_URI."
            ) from error

    async def ensure_indexes(self, dead_letter_retention: timedelta | None = None) -> None:
        """Create every collection's indexes; running it again changes nothing.

        Dead letters get their TTL index (see ``Cursors.keep_dead_letters``).

        An index an older Goodwill made under the same name with other keys (or
        uniqueness) is dropped first and made anew: that is how a database follows a
        change of the data model (e.g. mentions keyed by brand too).
        """
        try:
            for name, indexes in _indexes().items():
                collection = self._db[name]
                existing = await collection.index_information()
                for model in indexes:
                    wanted = model.document
                    found = existing.get(wanted["name"])
                    if found is not None and (
                        [(key, _direction(value)) for key, value in found["key"]]
                        != [(key, _direction(value)) for key, value in wanted["key"].items()]
                        or bool(found.get("unique")) != bool(wanted.get("unique"))
                    ):
                        await collection.drop_index(wanted["name"])
                await collection.create_indexes(indexes)
            await self.cursors.keep_dead_letters(dead_letter_retention)
        except PyMongoError as error:
            raise StoreError(f"Could not create indexes: {error}") from error
