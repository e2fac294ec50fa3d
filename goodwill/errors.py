"""Every error Goodwill raises on purpose.

The hierarchy::

    GoodwillError                 root: catch this to catch everything Goodwill means
    ├── ConfigError               a setting or the watch list is wrong (names the key)
    ├── StoreError                the database cannot be reached or refused an operation
    │   └── DatabaseServerError   the embedded database server cannot start or stop
    ├── SourceError               a source failed (carries source, brand, URL)
    │   ├── RateLimited           the source asked us to wait (carries retry_after)
    │   ├── SourceUnavailable     network error, timeout or 5xx after retries
    │   └── BadPayload            the source answered something we cannot parse
    └── ScoringError              the model cannot be loaded or cannot score

Each error's message says what went wrong and what to do about it; the CLI prints
the message alone (no traceback) and exits non-zero.
"""

from __future__ import annotations

__all__ = [
    "BadPayload",
    "ConfigError",
    "DatabaseServerError",
    "GoodwillError",
    "RateLimited",
    "ScoringError",
    "SourceError",
    "SourceUnavailable",
    "StoreError",
]


class GoodwillError(Exception):
    """Root of every error Goodwill raises on purpose."""


class ConfigError(GoodwillError):
    """A setting or the watch list is invalid; the message names the key."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class StoreError(GoodwillError):
    """The database cannot be reached, or refused an operation."""


class DatabaseServerError(StoreError):
    """The embedded database server cannot be started, found or stopped."""


class SourceError(GoodwillError):
    """A source failed; carries which source, for which brand, at which URL."""

    def __init__(
        self,
        message: str,
        *,
        source: str,
        brand: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.source = source
        self.brand = brand
        self.url = url


class RateLimited(SourceError):
    """The source asked us to slow down; ``retry_after`` is in seconds."""

    def __init__(
        self,
        message: str,
        *,
        source: str,
        retry_after: float,
        brand: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message, source=source, brand=brand, url=url)
        self.retry_after = retry_after


class SourceUnavailable(SourceError):
    """The source could not be reached, timed out or answered 5xx."""


class BadPayload(SourceError):
    """The source answered something that cannot be parsed into mentions."""


class ScoringError(GoodwillError):
    """The model cannot be loaded or cannot score a batch."""
