"""Hacker News stories and comments, through the Algolia HN Search API.

API: ``GET https://hn.algolia.com/api/v1/search_by_date?query=TERM&tags=(story,comment)
&numericFilters=created_at_i>=LOW,created_at_i<=HIGH&hitsPerPage=N&page=P``, newest
first (docs: https://hn.algolia.com/api). A hit is a story (``title``, ``url``,
``story_text`` as HTML, ``points``, ``num_comments``) or a comment (``comment_text`` as
HTML, ``story_title``, ``parent_id``); ``objectID`` is the HN item id.

Credentials: none; the API is public and needs no key.

Paging and limits: the search has no OR, so each term is its own search, with its own
place in the cursor. Algolia serves at most 1,000 hits of one search
(``nbPages * hitsPerPage <= 1000``), so when a window holds more than that the source
narrows the window's upper ``created_at_i`` bound to the oldest hit seen and starts
again at page 0, rather than asking for pages past the cap. The API allows about
10,000 requests an hour per IP and answers 429 past it (the runner waits and retries).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

from collector.base import CollectContext, Page, Target
from collector.http import get_json
from goodwill.errors import BadPayload
from goodwill.models import Author, Mention

__all__ = ["HackerNewsSource"]

_NAME = "hackernews"
_ITEM_URL = "https://news.ycombinator.com/item?id={id}"
_USER_URL = "https://news.ycombinator.com/user?id={id}"
#: Algolia's ``paginationLimitedTo`` on the HN index: no search serves more hits.
_MAX_HITS = 1000
# Texts HN shows in place of a comment that is gone; they are not anyone's words.
_PLACEHOLDERS = {"[deleted]", "[dead]", "[flagged]"}


class HackerNewsSource:
    """Stories and comments on Hacker News that match the brand's terms, newest first."""

    name = _NAME

    def __init__(
        self,
        *,
        base_url: str = "https://hn.algolia.com/api/v1",
        stories: bool = True,
        comments: bool = True,
        hits_per_page: int = 100,
    ) -> None:
        """Configure the source.

        Args:
            base_url: the API root (a proxy or a test server in place of Algolia's).
            stories: collect stories (including Ask HN / Show HN texts).
            comments: collect comments.
            hits_per_page: hits per request, 1 to 1000.
        """
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        if not isinstance(stories, bool) or not isinstance(comments, bool):
            raise ValueError("stories and comments must be true or false")
        if not (stories or comments):
            raise ValueError("at least one of stories and comments must be true")
        if not _is_int(hits_per_page) or not 1 <= hits_per_page <= _MAX_HITS:
            raise ValueError(f"hits_per_page must be between 1 and {_MAX_HITS}")
        self.base_url = base_url.rstrip("/")
        kinds = [kind for kind, wanted in (("story", stories), ("comment", comments)) if wanted]
        self.tags = f"({','.join(kinds)})" if len(kinds) > 1 else kinds[0]
        self.hits_per_page = hits_per_page

    async def fetch(self, ctx: CollectContext, target: Target, cursor: Any) -> Page:
        """One page of one term's search; ``more`` while any term's walk has pages left.

        The cursor is ``{"terms": [{"term": str, "newest": epoch | None, "walk": {...} | None}]}``:
        ``newest`` is the newest ``created_at_i`` collected (the next run asks for nothing
        older), ``walk`` the window being paged through now (``lower``/``upper`` bounds,
        ``page``, and ``top``, the newest hit of the walk).
        """
        terms = _terms(target)
        states = _load_states(cursor, terms)
        if not any(state["walk"] for state in states.values()):
            since = int(target.since.timestamp()) if target.since is not None else None
            now = int(time.time())
            for state in states.values():
                state["walk"] = _new_walk(state["newest"], since, now)
        term = next(term for term in terms if states[term]["walk"])
        state = states[term]
        walk = state["walk"]
        body = await self._search(ctx, term, walk)
        hits, nb_pages, nb_hits = _envelope(body, f"{self.base_url}/search_by_date")
        mentions: list[Mention] = []
        unparsed: list[tuple[str, Any]] = []
        times = [hit["created_at_i"] for hit in hits if _is_stamp(hit)]
        for hit in hits:
            try:
                mention = _mention(hit, target.brand)
            except _Unparsable as error:
                unparsed.append((str(error), hit))
                continue
            if walk["lower"] is not None and hit["created_at_i"] < walk["lower"]:
                continue  # the filter asks for nothing older; guard against a looser server
            if mention.text:  # an empty text is a deleted or dead item's placeholder
                mentions.append(mention)
        if times:
            walk["top"] = max(times) if walk["top"] is None else max(*times, walk["top"])
        state["walk"] = _advance(walk, times, nb_pages, nb_hits, self.hits_per_page)
        if state["walk"] is None:
            state["newest"] = _finish(state["newest"], walk)
        more = any(s["walk"] for s in states.values())
        return Page(mentions, {"terms": _dump_states(states)}, more=more, unparsed=unparsed)

    async def _search(self, ctx: CollectContext, term: str, walk: dict[str, Any]) -> Any:
        filters = []
        if walk["lower"] is not None:
            filters.append(f"created_at_i>={walk['lower']}")
        if walk["upper"] is not None:
            filters.append(f"created_at_i<={walk['upper']}")
        params: dict[str, str | int] = {
            "query": term,
            "tags": self.tags,
            "hitsPerPage": self.hits_per_page,
            "page": walk["page"],
        }
        if filters:
            params["numericFilters"] = ",".join(filters)
        body, _ = await get_json(ctx, _NAME, f"{self.base_url}/search_by_date", params=params)
        return body


class _Unparsable(ValueError):
    """An item that cannot become a mention; its message is the dead-letter reason."""


def _terms(target: Target) -> list[str]:
    terms = [term.strip() for term in target.terms if term.strip()]
    return list(dict.fromkeys(terms)) or [target.brand]


def _dump_states(states: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    # A list, not a dict keyed by term: a term such as "acme.com" is no valid MongoDB key.
    return [{"term": term, **state} for term, state in states.items()]


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


_WALK_KEYS = frozenset({"lower", "upper", "page", "top", "single", "started"})


def _new_walk(newest: int | None, since: int | None, now: int) -> dict[str, Any]:
    # A first run without `since` takes only the newest page; later runs take
    # everything from the newest item already collected (inclusive: items of the
    # same second that were indexed late are fetched again, the store dedupes).
    return {
        "lower": newest if newest is not None else since,
        "upper": None,
        "page": 0,
        "top": None,
        "single": newest is None and since is None,
        "started": now,
    }


def _advance(
    walk: dict[str, Any], times: list[int], nb_pages: int, nb_hits: int, per_page: int
) -> dict[str, Any] | None:
    """The walk after this page, or None when its window is exhausted."""
    if walk["single"] or not times:
        return None
    walk = dict(walk)
    if walk["upper"] is None:
        # Pin the window's top so that new items arriving while we page do not shift pages.
        walk["upper"] = walk["top"]
    if walk["page"] + 1 < nb_pages:
        walk["page"] += 1
        return walk
    if nb_hits > (walk["page"] + 1) * per_page:
        # The 1,000-hit cap: slide the window down to the oldest hit seen and start again.
        oldest = min(times)
        walk["upper"] = oldest if oldest < walk["upper"] else walk["upper"] - 1
        walk["page"] = 0
        if walk["lower"] is not None and walk["upper"] < walk["lower"]:
            return None
        return walk
    return None


def _finish(newest: int | None, walk: dict[str, Any]) -> int:
    candidates = [value for value in (newest, walk["top"]) if value is not None]
    # Nothing found at all: remember when we looked, so the next run asks only for newer items.
    return max(candidates) if candidates else int(walk["started"])


def _is_stamp(hit: Any) -> bool:
    if not isinstance(hit, dict):
        return False
    value = hit.get("created_at_i")
    return isinstance(value, int) and not isinstance(value, bool)


def _envelope(body: Any, url: str) -> tuple[list[Any], int, int]:
    if not isinstance(body, dict) or not isinstance(body.get("hits"), list):
        raise BadPayload(
            f"{_NAME}: {url} answered JSON without a 'hits' list", source=_NAME, url=url
        )
    nb_pages = body.get("nbPages", 0)
    nb_hits = body.get("nbHits", 0)
    if not isinstance(nb_pages, int) or not isinstance(nb_hits, int):
        raise BadPayload(
            f"{_NAME}: {url} answered nbPages/nbHits that are not numbers", source=_NAME, url=url
        )
    return body["hits"], nb_pages, nb_hits


def _mention(hit: Any, brand: str) -> Mention:
    if not isinstance(hit, dict):
        raise _Unparsable("hit is not an object")
    object_id = hit.get("objectID")
    if not isinstance(object_id, str | int) or isinstance(object_id, bool) or object_id == "":
        raise _Unparsable("hit has no objectID")
    if not _is_stamp(hit):
        raise _Unparsable("hit has no numeric created_at_i")
    created = hit["created_at_i"]
    tags = hit.get("_tags")
    tags = tags if isinstance(tags, list) else []
    is_comment = "comment" in tags or "comment_text" in hit
    if is_comment:
        html = hit.get("comment_text")
        if not isinstance(html, str):
            raise _Unparsable("comment has no comment_text")
        text = _html_to_text(html)
        title = _str_or_none(hit.get("story_title"))
    else:
        title = _str_or_none(hit.get("title"))
        body = hit.get("story_text")
        if title is None and not isinstance(body, str):
            raise _Unparsable("story has neither title nor story_text")
        parts = [title or "", _html_to_text(body) if isinstance(body, str) else ""]
        text = "\n\n".join(part for part in parts if part)
    if text in _PLACEHOLDERS:
        text = ""  # a deleted or flagged item: dropped by the caller
    author = _str_or_none(hit.get("author"))
    engagement = {
        key: value
        for key, value in (("score", hit.get("points")), ("replies", hit.get("num_comments")))
        if isinstance(value, int) and not isinstance(value, bool)
    }
    return Mention(
        source=_NAME,
        external_id=str(object_id),
        brand=brand,
        text=text,
        url=_ITEM_URL.format(id=object_id),
        title=title,
        author=Author(
            id=author,
            handle=author,
            url=_USER_URL.format(id=author) if author else None,
        ),
        created_at=datetime.fromtimestamp(created, UTC),
        engagement=engagement,
        raw=hit,
    )


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


class _TextExtractor(HTMLParser):
    """Collects the text of an HTML fragment, with line breaks where blocks break."""

    _BREAK = frozenset({"br", "li", "tr", "hr"})
    _PARAGRAPH = frozenset(
        {"p", "div", "pre", "blockquote", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._PARAGRAPH:
            self.parts.append("\n\n")
        elif tag in self._BREAK:
            self.parts.append("\n")
        if tag == "pre":
            self._pre += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre":
            self._pre = max(self._pre - 1, 0)
        if tag in self._PARAGRAPH:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._pre:
            data = _SPACES.sub(" ", data)
            if not self.parts or self.parts[-1].endswith("\n"):
                data = data.lstrip(" ")
        self.parts.append(data)


_SPACES = re.compile(r"\s+")
_BLANK_LINES = re.compile(r"\n{3,}")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")


def _html_to_text(html: str) -> str:
    """Plain text of an HTML fragment: tags dropped, entities unescaped, paragraphs kept."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    text = _TRAILING_SPACE.sub("\n", "".join(parser.parts))
    return _BLANK_LINES.sub("\n\n", text).strip()


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
