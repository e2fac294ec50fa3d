"""The per-term sliding-window walk shared by the Hacker News, GitHub and Stack Exchange sources."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from collector.base import Target
from collector.sources._window import TermWalks, wait_left

NOW = 1_762_000_000


def _walks(cursor: Any = None, *terms: str, since: int | None = None, first: int = 1) -> TermWalks:
    when = datetime.fromtimestamp(since, UTC) if since is not None else None
    return TermWalks(cursor, Target("Acme", terms, since=when), first_page=first, now=NOW)


def test_a_first_run_walks_every_term_from_since_starting_with_the_first() -> None:
    """Blank and repeated terms are dropped; each term gets a walk from since at the first page."""
    walks = _walks(None, " acme ", "", "acme", "roadrunner", since=NOW - 60, first=0)
    assert walks.term == "acme"
    assert walks.walk == {
        "lower": NOW - 60,
        "upper": None,
        "page": 0,
        "top": None,
        "single": False,
        "started": NOW,
    }
    assert [state["term"] for state in walks.dump()] == ["acme", "roadrunner"]


def test_no_terms_search_for_the_brand() -> None:
    """A target without terms searches for the brand's name."""
    assert _walks(None).term == "Acme"


def test_a_first_run_without_since_takes_one_page_and_remembers_its_newest() -> None:
    """Without since the walk is single: one page, then newest is the page's newest time."""
    walks = _walks(None, "acme")
    walks.step([NOW - 5, NOW - 9], next_page=True, slide=True)
    assert walks.more is False
    assert walks.dump() == [{"term": "acme", "newest": NOW - 5, "walk": None}]


def test_pages_follow_until_the_cap_then_the_window_slides_below_the_oldest() -> None:
    """The top is pinned on the first page; a slide moves upper to the oldest item, page 1."""
    walks = _walks(None, "acme", since=NOW - 100)
    walks.step([NOW - 10, NOW - 20], next_page=True, slide=False)
    [state] = walks.dump()
    assert state["walk"]["upper"] == NOW - 10 and state["walk"]["page"] == 2
    walks = _walks({"terms": walks.dump()}, "acme", since=NOW - 100)
    walks.step([NOW - 30, NOW - 40], next_page=False, slide=True)
    [state] = walks.dump()
    assert state["walk"]["upper"] == NOW - 40 and state["walk"]["page"] == 1
    assert state["walk"]["top"] == NOW - 10 and state["newest"] is None


def test_a_slide_that_cannot_go_lower_ends_the_walk() -> None:
    """All items in one second: the upper bound steps down by one, and past lower it ends."""
    cursor = {
        "terms": [
            {
                "term": "acme",
                "newest": NOW - 50,
                "walk": {
                    "lower": NOW - 50,
                    "upper": NOW - 50,
                    "page": 3,
                    "top": NOW - 50,
                    "single": False,
                    "started": NOW,
                },
            }
        ]
    }
    walks = _walks(cursor, "acme")
    walks.step([NOW - 50], next_page=False, slide=True)
    assert walks.more is False and walks.dump()[0]["newest"] == NOW - 50


def test_an_empty_page_ends_the_walk_and_remembers_when_it_looked() -> None:
    """Nothing found at all: newest becomes the walk's start, so the next run asks for newer."""
    walks = _walks(None, "acme", since=NOW - 100)
    walks.step([], next_page=True, slide=True)
    assert walks.dump() == [{"term": "acme", "newest": NOW, "walk": None}]


def test_a_stale_walk_in_the_cursor_is_dropped_and_the_term_starts_again() -> None:
    """A walk missing keys (an older cursor) is not trusted; newest is kept."""
    cursor = {"terms": [{"term": "acme", "newest": NOW - 7, "walk": {"page": 4}}, "junk"]}
    walks = _walks(cursor, "acme", since=NOW - 100)
    assert walks.walk["lower"] == NOW - 7 and walks.walk["page"] == 1


def test_below_window_compares_with_the_inclusive_lower_bound() -> None:
    """An item at the lower bound is in the window; one a second older is not."""
    walks = _walks(None, "acme", since=NOW - 100)
    assert not walks.below_window(NOW - 100) and walks.below_window(NOW - 101)
    assert not _walks(None, "acme").below_window(0)


def test_wait_left_reads_a_future_not_before_only() -> None:
    """not_before in the future is a wait; past, missing or malformed is none."""
    assert wait_left({"not_before": NOW + 30}, NOW) == 30
    assert wait_left({"not_before": NOW - 1}, NOW) is None
    assert wait_left({"not_before": "soon"}, NOW) is None
    assert wait_left(None, NOW) is None
