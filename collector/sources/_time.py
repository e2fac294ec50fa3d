"""Times as sources give them: ISO 8601 strings, into aware UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

__all__ = ["parse_time"]


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 string as an aware UTC datetime (naive means UTC); None if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
