"""What a source is: something that turns one page of an API into normalised mentions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import aiohttp

from goodwill.models import Mention

__all__ = ["CollectContext", "Page", "Source", "Target"]


@dataclass(frozen=True)
class Target:
    """What a job collects: a brand, and the phrases to ask the source's search for.

    ``terms`` are the positive phrases of the brand's query (``"acme"``, ``"acme corp"``);
    sources' own search is fuzzy, so the runner checks every fetched item against the
    brand's full query before storing it.
    """

    brand: str
    terms: tuple[str, ...] = ()
    since: datetime | None = None  # on a first run or a back-fill: collect nothing older


@dataclass(frozen=True)
class Page:
    """One page of a source: its mentions and the cursor to resume after it.

    ``more`` says whether another page is ready right now (the runner keeps going);
    when False the runner stops until the job's next scheduled run. ``deleted`` names
    posts, as (source, external id), their authors deleted; ``edited`` carries posts whose text
    changed, where the source reports them; ``truncated`` says why a source's own cap
    (a listing's depth, a feed's page limit) cut this window short, and
    ``truncated_window`` which span it left unread (from, to), where the source knows it.
    """

    mentions: list[Mention]
    cursor: Any
    more: bool = False
    unparsed: list[tuple[str, Any]] = field(default_factory=list)  # (reason, payload)
    deleted: list[tuple[str, str]] = field(default_factory=list)
    edited: list[Mention] = field(default_factory=list)
    truncated: str | None = None
    truncated_window: tuple[datetime, datetime] | None = None


@dataclass
class CollectContext:
    """What a source gets from the runner: the process's one HTTP session.

    ``private_redirects``: whether a redirect may lead to a private, loopback or
    link-local address. ``None`` (the default) allows it only when the request's own URL
    is on such an address (a self-hosted instance); ``False`` never does.
    """

    session: aiohttp.ClientSession | None = None
    private_redirects: bool | None = None


class Source(Protocol):
    """A source of mentions. Sources never open their own session or touch the store."""

    name: str

    async def fetch(self, ctx: CollectContext, target: Target, cursor: Any) -> Page:
        """The next page of mentions of ``target.brand`` after ``cursor`` (None: the first run).

        Raises ``RateLimited``, ``SourceUnavailable`` (retried by the runner) or
        ``BadPayload`` / ``SourceError`` (recorded on the job; the cursor stays).
        """
        ...
