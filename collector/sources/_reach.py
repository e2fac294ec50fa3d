"""Authors' followers, looked up at most once a day each: the cache a source keeps of them.

A source that can ask its API how many followers an author has (YouTube's subscribers,
GitHub's followers) keeps one ``ReachCache`` per source instance, so one author costs one
lookup a day however often they write. Entries live ``ttl`` seconds (a day by default);
past ``size`` entries the least recently used go first, so the cache stays bounded. A
known "no count" (a hidden subscriber count, a bot) is kept too, so it is not asked for
again; an author the answer left out (an account closed, or too new to be indexed) is kept
for an hour.

``look_up`` runs a page's lookups in batches within ``timeout`` seconds. A lookup that fails
(a network fault, an error status, a body that is not what was asked, the time spent) never
fails the page: its mentions are stored without followers, the failure is logged at debug
level, nothing is cached for those authors, and no lookup is tried for ``pause`` seconds
(a rate limit's wait, if longer).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping

from goodwill.errors import RateLimited, SourceError
from goodwill.models import Mention

__all__ = ["DAY", "Fetch", "ReachCache"]

log = logging.getLogger(__name__)

#: How long a looked-up follower count is trusted, in seconds.
DAY = 86_400.0
#: How long an author the answer left out is not asked for again, in seconds.
_LEFT_OUT = 3_600.0

#: Looks up one batch of author keys: their counts by key (a key left out: not found).
Fetch = Callable[[list[str]], Awaitable[Mapping[str, int | None]]]


class ReachCache:
    """Follower counts by author key (``None``: the source gives no count for that author).

    Args:
        ttl: seconds a looked-up count is kept.
        size: the most authors kept.
        pause: seconds without lookups after one failed.
        timeout: the longest one page's lookups may take, in seconds.
        clock: monotonic seconds (a test may move time on).
    """

    def __init__(
        self,
        *,
        ttl: float = DAY,
        size: int = 50_000,
        pause: float = 60.0,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.size = size
        self.pause = pause
        self.timeout = timeout
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, int | None]] = OrderedDict()
        self._paused_until = 0.0

    def __len__(self) -> int:
        return len(self._entries)

    def known(self, key: str) -> bool:
        """Whether ``key``'s count (or that it has none) is cached and fresh."""
        entry = self._entries.get(key)
        if entry is None:
            return False
        if entry[0] <= self._clock():
            del self._entries[key]
            return False
        self._entries.move_to_end(key)
        return True

    def get(self, key: str) -> int | None:
        """``key``'s follower count while it is fresh, else ``None``."""
        return self._entries[key][1] if self.known(key) else None

    def put(self, key: str, followers: int | None, *, ttl: float | None = None) -> None:
        """Remember ``key``'s follower count (``None``: the source gives none) for ``ttl``."""
        self._entries[key] = (self._clock() + (self.ttl if ttl is None else ttl), followers)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def missing(self, keys: Iterable[str | None]) -> list[str]:
        """The keys (in order, once each, ``None`` left out) that need a lookup now.

        None while lookups are paused after a failure.
        """
        if self._clock() < self._paused_until:
            return []
        return [key for key in dict.fromkeys(keys) if key is not None and not self.known(key)]

    async def look_up(self, keys: list[str], batch: int, fetch: Fetch, *, source: str) -> None:
        """Look ``keys`` up ``batch`` at a time with ``fetch``, caching what it answers.

        Never raises for a failed lookup (see the module): the keys not yet looked up stay
        unknown, and lookups pause.
        """
        try:
            async with asyncio.timeout(self.timeout):
                for start in range(0, len(keys), batch):
                    some = keys[start : start + batch]
                    found = await fetch(some)
                    for key in some:
                        if key in found:
                            self.put(key, found[key])
                        else:
                            self.put(key, None, ttl=min(self.ttl, _LEFT_OUT))
        except (SourceError, TimeoutError) as error:
            pause = self.pause
            if isinstance(error, RateLimited):
                pause = max(pause, error.retry_after)
            self._paused_until = self._clock() + pause
            log.debug(
                "%s: looking up the followers of %d authors failed (%s: %s); their mentions "
                "are stored without followers, and no lookup is tried for %.0f s",
                source,
                len(keys),
                error.__class__.__name__,
                str(error) or f"no answer within {self.timeout:.0f} s",
                pause,
            )

    def fill(
        self, mentions: list[Mention], key_of: Callable[[Mention], str | None]
    ) -> list[Mention]:
        """``mentions`` with each author's followers from the cache, where it knows them.

        An author's count the source gave with the mention itself is kept.
        """
        filled = []
        for mention in mentions:
            key = key_of(mention)
            followers = self.get(key) if key is not None else None
            if followers is not None and mention.author.followers is None:
                author = mention.author.model_copy(update={"followers": followers})
                mention = mention.model_copy(update={"author": author})
            filled.append(mention)
        return filled
