"""``goodwill themes --brand B [--since 7d]``: a brand's complaint themes over a window.

Each theme: its id and name, its mentions in the window against the window as long just
before it (the trend), its complaints by category, its sentiment mix and its most
representative posts. Themes are found by the scorer (``scoring/theme_jobs.py``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from scoring.categories import readable
from service.cli_common import echo, fail, parse_since, printable, run_async, settings

__all__ = ["render", "show_themes"]

_TEXT_CHARS = 160


def _trend(count: int, previous: int) -> str:
    if previous == 0:
        return "new" if count else "none before"
    change = (count - previous) / previous
    return f"{change:+.0%}"


def _mix(counts: dict[str, int], name: Any = str) -> str:
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return " · ".join(f"{name(key)} {n}" for key, n in ranked) or "none"


def _line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _TEXT_CHARS else flat[: _TEXT_CHARS - 1] + "…"


def render(
    brand: str, since: datetime, until: datetime, rows: list[dict[str, Any]], limit: int
) -> list[str]:
    """The lines ``goodwill themes`` prints for ``rows`` (``Themes.summary``)."""
    days = max(1, round((until - since).total_seconds() / 86400))
    lines = [
        f"Themes of {brand} since {since:%Y-%m-%d %H:%M} UTC ({len(rows)} active; "
        f"trend against the {days} day{'s' if days != 1 else ''} before):"
    ]
    for row in rows[:limit]:
        lines.append("")
        lines.append(f"{row['theme_id']}  {row['name']}")
        lines.append(
            f"    {row['count']} posts (before: {row['previous']}, {_trend(row['count'], row['previous'])}), "
            f"{row['complaints']} complaints; {row['size']} when clustered"
        )
        lines.append(f"    categories: {_mix(row['categories'], readable)}")
        lines.append(f"    sentiment: {_mix(row['sentiments'])}")
        for post in row["posts"]:
            when = post.get("created_at")
            stamp = f"{when:%Y-%m-%d}" if isinstance(when, datetime) else ""
            lines.append(
                f'    - "{_line(str(post.get("text") or ""))}" ({post.get("source", "")}, {stamp})'
            )
    if len(rows) > limit:
        lines.append("")
        lines.append(f"... and {len(rows) - limit} more (--limit shows more).")
    return lines


def show_themes(brand: str, since: str, limit: int, posts: int) -> None:
    """Print a brand's themes; an unknown brand stops with the known ones named."""
    from goodwill.models import utcnow
    from service.processes import open_store

    config = settings()
    start = parse_since(since)

    async def read() -> tuple[str | None, list[str], list[dict[str, Any]]]:
        async with open_store(config) as store:
            known = await store.mentions.brands()
            named = next((b for b in known if b.casefold() == brand.strip().casefold()), None)
            if named is None:
                return None, known, []
            return named, known, await store.themes.summary(named, start, utcnow(), posts=posts)

    named, known, rows = run_async(read)
    if named is None:
        listed = ", ".join(printable(b) for b in known) or "none yet"
        raise fail(f"No brand {printable(brand)!r}; known brands: {listed}.")
    if not rows:
        echo(
            f"No themes for {named} yet. The scorer clusters a brand's complaints and negative "
            "posts nightly, and within minutes once a brand without themes has 50 of them "
            "(`goodwill up` or `goodwill score` runs it)."
        )
        return
    for line in render(named, start, utcnow(), rows, limit):
        echo(line)
