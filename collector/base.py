"""What a source is: something that turns one page of an API into normalised mentions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

from goodwill.models import Mention

__all__ = ["CollectContext", "Page", "Source"]


@dataclass(frozen=True)
class Page:
    """One page of a source: its mentions and the cursor to resume after it.

    ``more`` says whether another page is ready right now (the runner keeps going);
    when False the runner stops until the job's next scheduled run.
    """

    mentions: list[Mention]
    cursor: Any
    more: bool = False
    unparsed: list[tuple[str, Any]] = field(default_factory=list)  # (reason, payload)


@dataclass
class CollectContext:
    """What a source gets from the runner: the process's one HTTP session."""

    session: aiohttp.ClientSession | None = None


class Source(Protocol):
    """A source of mentions. Sources never open their own session or touch the store."""

    name: str

    async def fetch(self, ctx: CollectContext, brand: str, cursor: Any) -> Page:
        """The next page of mentions of ``brand`` after ``cursor`` (None: the first run)."""
        ...
