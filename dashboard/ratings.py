"""Star ratings as the dashboard shows them: the stars, and where they and the verdict clash.

Stars are a signal beside the model, never over it. They read as a sentiment the way the
roll-ups count them (``store.rollups.stars_label``): 1-2 stars negative, 3 neutral, 4-5
positive. A mention is marked only where the two are *opposite* (negative stars and a
positive verdict, or the other way round); a neutral on either side is no clash. The
verdict compared is the counted one: the model's, or a person's correction over it.
"""

from __future__ import annotations

from store.rollups import stars_label, stars_of

__all__ = ["clash", "stars"]


def stars(rating: object) -> str | None:
    """A rating as ``★★☆☆☆ 2/5``; ``None`` for a mention without one."""
    count = stars_of(rating)
    if count is None:
        return None
    return "★" * count + "☆" * (5 - count) + f" {count}/5"


def clash(rating: object, verdict: str | None, *, corrected: bool = False) -> str | None:
    """``stars say negative, model says positive`` where stars and verdict are opposite, else ``None``.

    ``corrected``: the verdict is a person's correction (``a person says``).
    """
    count = stars_of(rating)
    if count is None or verdict not in ("negative", "positive"):
        return None
    said = stars_label(count)
    if {said, verdict} != {"negative", "positive"}:
        return None
    who = "a person" if corrected else "model"
    return f"stars say {said}, {who} says {verdict}"
