"""The per-term sliding-window walk of the search sources (Hacker News, GitHub, Stack Exchange).

Their search APIs have no OR and serve only so many results of one search, newest first.
So each term is its own search with its own place in the cursor::

    {"terms": [{"term": str, "newest": epoch | None, "walk": {...} | None}], ...}

``newest`` is the newest creation time collected for the term (the next run asks for
nothing older); ``walk`` is the window being paged through now: ``lower``/``upper``
bounds (epoch seconds, inclusive, None for open), ``page``, ``top`` (the newest item of
the walk), ``single`` (a first run without ``since``: the newest page only) and
``started`` (when the walk began). When a window holds more than the API serves, its
``upper`` bound slides down to the oldest item seen and paging starts again.

What differs between the sources (the first page's number, when there is a next page,
when the API's cap calls for a slide) stays in each source and is passed in here.
"""

from __future__ import annotations

from typing import Any

from collector.base import Target

__all__ = ["TermWalks", "wait_left"]

_WALK_KEYS = frozenset({"lower", "upper", "page", "top", "single", "started"})


def wait_left(cursor: Any, now: float) -> float | None:
    """Seconds until the cursor's ``not_before`` (a spent rate limit or quota), if later than now."""
    not_before = cursor.get("not_before") if isinstance(cursor, dict) else None
    if isinstance(not_before, int | float) and not_before > now:
        return not_before - now
    return None


class TermWalks:
    """Every term's walk as a cursor keeps it, and the term whose page is fetched next.

    Loading starts a fresh walk for every term when none is under way; :attr:`term` and
    :attr:`walk` then name the first term with a walk left.
    """

    def __init__(self, cursor: Any, target: Target, *, first_page: int, now: int) -> None:
        """Load the walks of ``target``'s terms from ``cursor`` (None or a stale one too).

        Args:
            cursor: the saved cursor, or anything else for a first run.
            target: the brand, its terms and ``since``.
            first_page: the API's number for a search's first page.
            now: epoch seconds, remembered as when a new walk started.
        """
        self._first_page = first_page
        terms = _terms(target)
        self._states = _load_states(cursor, terms)
        if not self.more:
            since = int(target.since.timestamp()) if target.since is not None else None
            for state in self._states.values():
                state["walk"] = _new_walk(state["newest"], since, now, first_page)
        self.term: str = next(term for term in terms if self._states[term]["walk"])
        self.walk: dict[str, Any] = self._states[self.term]["walk"]

    def below_window(self, stamp: float) -> bool:
        """Whether an item created at ``stamp`` is older than the walk asked for."""
        lower = self.walk["lower"]
        return lower is not None and stamp < lower

    def step(self, times: list[int], *, next_page: bool, slide: bool) -> None:
        """Move the current term's walk on after a page whose items were created at ``times``.

        Args:
            times: creation times (epoch seconds) of the page's items.
            next_page: the window has a page after this one that the API serves.
            slide: otherwise, the window holds more than the API serves: slide it down.
        """
        walk = self.walk
        if times:
            walk["top"] = max(times) if walk["top"] is None else max(*times, walk["top"])
        state = self._states[self.term]
        state["walk"] = _advance(walk, times, next_page, slide, self._first_page)
        if state["walk"] is None:
            state["newest"] = _finish(state["newest"], walk)

    @property
    def more(self) -> bool:
        """Whether any term's walk has pages left."""
        return any(state["walk"] for state in self._states.values())

    def dump(self) -> list[dict[str, Any]]:
        """The cursor's ``terms`` list."""
        # A list, not a dict keyed by term: a term such as "acme.com" is no valid MongoDB key.
        return [{"term": term, **state} for term, state in self._states.items()]


def _terms(target: Target) -> list[str]:
    terms = [term.strip() for term in target.terms if term.strip()]
    return list(dict.fromkeys(terms)) or [target.brand]


def _load_states(cursor: Any, terms: list[str]) -> dict[str, dict[str, Any]]:
    listed = cursor.get("terms") if isinstance(cursor, dict) else None
    saved = {
        entry["term"]: entry
        for entry in (listed if isinstance(listed, list) else [])
        if isinstance(entry, dict) and isinstance(entry.get("term"), str)
    }
    states: dict[str, dict[str, Any]] = {}
    for term in terms:
        state = saved.get(term)
        if isinstance(state, dict) and "newest" in state:
            walk = state.get("walk")
            walk = dict(walk) if isinstance(walk, dict) and walk.keys() >= _WALK_KEYS else None
            states[term] = {"newest": state["newest"], "walk": walk}
        else:  # a term new to this job (or a first run): it starts from `since`
            states[term] = {"newest": None, "walk": None}
    return states


def _new_walk(newest: int | None, since: int | None, now: int, first_page: int) -> dict[str, Any]:
    # A first run without `since` takes only the newest page; later runs take everything
    # from the newest item already collected (the lower bound is inclusive: items of that
    # second, some indexed late, come again, and the store dedupes them).
    return {
        "lower": newest if newest is not None else since,
        "upper": None,
        "page": first_page,
        "top": None,
        "single": newest is None and since is None,
        "started": now,
    }


def _advance(
    walk: dict[str, Any], times: list[int], next_page: bool, slide: bool, first_page: int
) -> dict[str, Any] | None:
    """The walk after this page, or None when its window is exhausted."""
    if walk["single"] or not times:
        return None
    walk = dict(walk)
    if walk["upper"] is None:
        # Pin the window's top so that new items arriving while we page do not shift pages.
        walk["upper"] = walk["top"]
    if next_page:
        walk["page"] += 1
        return walk
    if slide:
        # The API's cap: slide the window down to the oldest item seen and start again.
        oldest = min(times)
        walk["upper"] = oldest if oldest < walk["upper"] else walk["upper"] - 1
        walk["page"] = first_page
        if walk["lower"] is not None and walk["upper"] < walk["lower"]:
            return None
        return walk
    return None


def _finish(newest: int | None, walk: dict[str, Any]) -> int:
    candidates = [value for value in (newest, walk["top"]) if value is not None]
    # Nothing found at all: remember when we looked, so the next run asks only for newer items.
    return max(candidates) if candidates else int(walk["started"])
