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

import time
from datetime import UTC, datetime
from typing import Any

from collector.base import CollectContext, Page, Target
from collector.http import get_json
from collector.sources._text import html_to_text
from collector.sources._window import TermWalks
from goodwill.errors import BadPayload, UnparsableItem
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
        walks = TermWalks(cursor, target, first_page=0, now=int(time.time()))
        walk = walks.walk
        body = await self._search(ctx, walks.term, walk)
        hits, nb_pages, nb_hits = _envelope(body, f"{self.base_url}/search_by_date")
        mentions: list[Mention] = []
        unparsed: list[tuple[str, Any]] = []
        times = [hit["created_at_i"] for hit in hits if _is_stamp(hit)]
        for hit in hits:
            try:
                mention = _mention(hit, target.brand)
            except UnparsableItem as error:
                unparsed.append((str(error), hit))
                continue
            if walks.below_window(hit["created_at_i"]):
                continue  # the filter asks for nothing older; guard against a looser server
            if mention.text:  # an empty text is a deleted or dead item's placeholder
                mentions.append(mention)
        served = (walk["page"] + 1) * self.hits_per_page
        # Past the 1,000-hit cap the window slides down rather than asking for more pages.
        walks.step(times, next_page=walk["page"] + 1 < nb_pages, slide=nb_hits > served)
        return Page(mentions, {"terms": walks.dump()}, more=walks.more, unparsed=unparsed)

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
        raise UnparsableItem("hit is not an object")
    object_id = hit.get("objectID")
    if not isinstance(object_id, str | int) or isinstance(object_id, bool) or object_id == "":
        raise UnparsableItem("hit has no objectID")
    if not _is_stamp(hit):
        raise UnparsableItem("hit has no numeric created_at_i")
    created = hit["created_at_i"]
    tags = hit.get("_tags")
    tags = tags if isinstance(tags, list) else []
    is_comment = "comment" in tags or "comment_text" in hit
    if is_comment:
        html = hit.get("comment_text")
        if not isinstance(html, str):
            raise UnparsableItem("comment has no comment_text")
        text = html_to_text(html)
        title = _str_or_none(hit.get("story_title"))
    else:
        title = _str_or_none(hit.get("title"))
        body = hit.get("story_text")
        if title is None and not isinstance(body, str):
            raise UnparsableItem("story has neither title nor story_text")
        parts = [title or "", html_to_text(body) if isinstance(body, str) else ""]
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


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
