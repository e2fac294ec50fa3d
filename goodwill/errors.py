"""Every error Goodwill raises on purpose.

The hierarchy::

    GoodwillError                 root: catch this to catch everything Goodwill means
    ├── ConfigError               a setting or the watch list is wrong (names the key)
    ├── InvalidRequest            a request (from the CLI, dashboard or an API) is malformed
    │   └── NotFound              it names something that does not exist (or was erased)
    │       └── PersonNotFound    a person reference matches no one, or several profiles
    ├── CrmImportError            a CRM file cannot be imported as a whole; nothing is written
    ├── AlreadyRunning            another ``goodwill up`` holds this data directory
    ├── StoreError                the database cannot be reached or refused an operation
    │   └── DatabaseServerError   the embedded database server cannot start or stop
    ├── SourceError               a source failed (carries source, brand, URL)
    │   ├── RateLimited           the source asked us to wait (carries retry_after)
    │   ├── SourceUnavailable     network error, timeout or 5xx after retries
    │   └── BadPayload            the source answered something we cannot parse
    ├── UnparsableItem            one item of a page cannot be read (dead-lettered, page goes on)
    └── ScoringError              the model cannot be loaded or cannot score

Each error's message says what went wrong and what to do about it; the CLI prints
the message alone (no traceback) and exits non-zero.
"""

from __future__ import annotations

__all__ = [
    "AlreadyRunning",
    "BadPayload",
    "ConfigError",
    "CrmImportError",
    "DatabaseServerError",
    "GoodwillError",
    "InvalidRequest",
    "NotFound",
    "PersonNotFound",
    "RateLimited",
    "ScoringError",
    "SourceError",
    "SourceUnavailable",
    "StoreError",
    "UnparsableItem",
]


class GoodwillError(Exception):
    """Root of every error Goodwill raises on purpose."""


class ConfigError(GoodwillError):
    """A setting or the watch list is invalid; the message names the key."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class InvalidRequest(GoodwillError, ValueError):
    """A request is malformed: an unknown choice, a missing or too long value, a bad id.

    Also a ``ValueError``, so code that validates input the Python way catches it.
    """


class NotFound(InvalidRequest, LookupError):
    """A request names something that does not exist (or was erased)."""


class PersonNotFound(NotFound):
    """A person reference matches no one, or more than one profile."""


class CrmImportError(GoodwillError):
    """A CRM file cannot be imported as a whole (columns, encoding, mapping); nothing of it is written."""


class AlreadyRunning(GoodwillError):
    """Another ``goodwill up`` holds this data directory."""


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


class UnparsableItem(GoodwillError, ValueError):
    """One item of a source's page cannot be read into a mention (the message names the field).

    Raised and caught inside a source's parser: the item is dead-lettered and the page goes on.
    """
