"""App Store: customer reviews of the brand's iOS / macOS apps, from Apple's public feed.

API: ``GET https://itunes.apple.com/{country}/rss/customerreviews/page={n}/id={app_id}/
sortby=mostrecent/json``, Apple's iTunes Store RSS feed of customer reviews as JSON
(the feed generator once documented at https://rss.applemarketingtools.com/ and
https://www.apple.com/rss/; the customer-reviews feed itself has no reference page).
``feed.entry`` holds the reviews, newest first, 50 a page, at most 10 pages (the 500
most recent reviews per app and country store). Each entry's fields are objects with a
``label``: ``id``, ``author.name``, ``author.uri``, ``im:rating`` (1-5), ``title``,
``content``, ``im:version``, ``updated``, ``im:voteSum`` / ``im:voteCount``. The first
entry of page 1 is sometimes the app itself (it has ``im:name`` and no rating): it is
skipped. A page with a single review gives ``entry`` as an object, not a list; a page
with none has no ``entry``.

Credentials: none; the feed is public. Find an app's id in its App Store link
(``apps.apple.com/us/app/acme/id284882215`` -> ``284882215``).

Not a search: every review of the configured apps is about the brand, so this source
sets ``match_all = True`` and the runner stores its reviews without matching them
against the brand's query; each review is marked ``owned`` (said on the brand's own app
page), as the owned scopes of other sources are.

Paging and limits: each app x country is a stream, read from page 1 down until a review
of an earlier run (by ``updated`` time and id), page 10, or, on a first run,
``target.since`` (no ``since``: page 1 only). The newest review of the sweep becomes the
stream's starting point only when the sweep is over, so a crash mid-sweep leaves no gap.
A sweep that reads its last page (10, Apple's limit, or ``max_pages``), full, while that
page's oldest review is still newer than the stream's newest earlier review (or ``since``) was
cut short: the page says so (``Page.truncated``, with the window left unread), and the
runner records the window as not read.
Apple publishes no rate limit (a few requests a second are tolerated; it answers 403
or 429 beyond); 429 waits for ``Retry-After``.

Edits: a reviewer who edits a review keeps its ``id``; Apple gives it a new ``updated``
time (so it is listed again, as the newest) and the new ``content``, ``title`` and
``im:rating``. The feed does not say which reviews are edits, so every review of a page is
also reported as edited (``Page.edited``): the store writes only those whose text or
rating differs from what it holds (``Mentions.replace_text``: one indexed read per page,
and a write per real edit), which take their new text, title and stars, keep their first
version's time (and so their roll-up day), and are scored again, their counts moving from
the old label and stars to the new. A review of an erased person stays as erasure left
it. Deleted reviews are not reported (they just stop appearing) and stay stored.

Mapping: ``rating`` is ``im:rating`` (whole stars 1-5: shown on the review, trended in the
roll-ups and compared with the model's verdict, never used in its place; see
``store/rollups.py``); ``engagement`` is ``{"votes": im:voteCount,
"helpful": im:voteSum}`` (votes on the review's helpfulness, and how many said yes);
the URL is the app's reviews page in that country's store (reviews have no page of
their own); ``lang`` is left unknown (a store's country does not say the language).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from collector.base import CollectContext, Page, Target
from collector.http import get_json
from collector.sources._time import parse_time as _parse_time
from goodwill.errors import BadPayload, UnparsableItem
from goodwill.models import Author, Mention

__all__ = ["AppStoreSource"]

_NAME = "appstore"
#: Apple serves at most this many pages of a feed ...
_MAX_PAGES = 10
#: ... of this many reviews each.
_PER_PAGE = 50
_APP_ID = re.compile(r"^(?:id)?(\d{1,12})$")
_COUNTRY = re.compile(r"^[a-z]{2}$")
_REVIEWER_ID = re.compile(r"/id(\d+)")


class AppStoreSource:
    """Customer reviews of a list of apps in a list of App Store countries."""

    name = _NAME
    #: Reviews of the brand's own apps are all about the brand: the runner does not
    #: match them against the brand's query.
    match_all = True

    def __init__(
        self,
        *,
        base_url: str = "https://itunes.apple.com",
        app_ids: list[str] | None = None,
        countries: list[str] | None = None,
        max_pages: int = _MAX_PAGES,
    ) -> None:
        """Configure the source.

        Args:
            base_url: the feed's host (a proxy or a test server in place of Apple's).
            app_ids: the apps' numeric App Store ids (``"284882215"``; ``"id284882215"``
                is accepted).
            countries: two-letter store countries, ``["us"]`` by default.
            max_pages: pages of 50 read per sweep, 1 to 10.
        """
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        if isinstance(app_ids, str) or not isinstance(app_ids, list) or not app_ids:
            raise ValueError("app_ids must be a list of App Store app ids, e.g. ['284882215']")
        apps = []
        for value in app_ids:
            match = _APP_ID.match(str(value).strip()) if isinstance(value, str | int) else None
            if match is None or isinstance(value, bool):
                raise ValueError(f"app_ids: {value!r} is not a numeric App Store app id")
            apps.append(match.group(1))
        if countries is None:
            countries = ["us"]
        if isinstance(countries, str) or not isinstance(countries, list) or not countries:
            raise ValueError("countries must be a list of two-letter store codes, e.g. ['us']")
        stores = []
        for value in countries:
            code = value.strip().lower() if isinstance(value, str) else ""
            if not _COUNTRY.match(code):
                raise ValueError(f"countries: {value!r} is not a two-letter country code")
            stores.append(code)
        if isinstance(max_pages, bool) or not isinstance(max_pages, int):
            raise ValueError(f"max_pages must be between 1 and {_MAX_PAGES}")
        if not 1 <= max_pages <= _MAX_PAGES:
            raise ValueError(f"max_pages must be between 1 and {_MAX_PAGES}")
        self.base_url = base_url.rstrip("/")
        self.app_ids = list(dict.fromkeys(apps))
        self.countries = list(dict.fromkeys(stores))
        self.max_pages = max_pages

    async def fetch(self, ctx: CollectContext, target: Target, cursor: Any) -> Page:
        """One page of one app's reviews in one country; ``more`` while any has pages.

        The cursor is ``{"streams": [{"app": id, "country": cc, "newest_at": ISO time |
        None, "newest_ids": [id, ...], "sweep": {"page": n, "top_at": ISO time | None,
        "top_ids": [id, ...]} | None}], "pending": [[app, country], ...]}``: ``newest_*``
        is the time of the newest review of the last finished sweep and the ids at that
        time, ``sweep`` the one under way,
        ``pending`` the streams this run has still to read.
        """
        state = cursor if isinstance(cursor, dict) else {}
        saved = {
            (item["app"], item["country"]): item
            for item in state.get("streams") or []
            if isinstance(item, dict) and "app" in item and "country" in item
        }
        keys = [(app, country) for app in self.app_ids for country in self.countries]
        streams = {key: saved.get(key) or {"app": key[0], "country": key[1]} for key in keys}
        pending = [
            (item[0], item[1])
            for item in state.get("pending") or []
            if isinstance(item, list) and len(item) == 2 and (item[0], item[1]) in streams
        ] or keys
        mentions, unparsed, ended, cut = await self._page(ctx, target, streams[pending[0]])
        if ended:
            pending.pop(0)
        new_cursor = {
            "streams": list(streams.values()),
            "pending": [list(key) for key in pending],
        }
        return Page(
            mentions,
            new_cursor,
            more=bool(pending),
            unparsed=unparsed,
            # Any review may be an edit of one collected before (see the module docstring).
            edited=list(mentions),
            truncated=cut[0] if cut else None,
            truncated_window=cut[1] if cut else None,
        )

    async def _page(
        self, ctx: CollectContext, target: Target, stream: dict[str, Any]
    ) -> tuple[
        list[Mention],
        list[tuple[str, Any]],
        bool,
        tuple[str, tuple[datetime, datetime]] | None,
    ]:
        """Read the next page of ``stream`` and move its sweep on (in place).

        Returns the page's mentions, its unparsable entries, whether the sweep ended, and,
        when the page limit cut it short, why and the window left unread.
        """
        app, country = stream["app"], stream["country"]
        sweep = stream.get("sweep") or {"page": 1, "top_at": None, "top_ids": []}
        number = int(sweep.get("page") or 1)
        url = (
            f"{self.base_url}/{country}/rss/customerreviews/page={number}/id={app}"
            "/sortby=mostrecent/json"
        )
        body, _ = await get_json(ctx, _NAME, url, headers={"Accept": "application/json"})
        entries = _entries(body, url)
        newest_at = _parse_time(stream.get("newest_at"))
        newest_ids = set(stream.get("newest_ids") or [])
        first_run = newest_at is None
        top_at = _parse_time(sweep.get("top_at"))
        top_ids: list[str] = list(sweep.get("top_ids") or [])
        mentions: list[Mention] = []
        unparsed: list[tuple[str, Any]] = []
        reached_known = reached_since = False
        reviews = 0
        oldest: datetime | None = None  # the oldest review this page reached
        store_url = f"https://apps.apple.com/{country}/app/id{app}?see-all=reviews"
        for entry in entries:
            if isinstance(entry, dict) and "im:rating" not in entry and "im:name" in entry:
                continue  # the app itself, not a review
            reviews += 1
            try:
                mention = _mention(entry, target.brand, store_url)
            except UnparsableItem as error:
                unparsed.append((str(error), entry))
                continue
            when, review_id = mention.created_at, mention.external_id
            oldest = when if oldest is None or when < oldest else oldest
            if newest_at is not None and when < newest_at:
                reached_known = True  # newest first: the rest was collected before
                break
            if newest_at is not None and when == newest_at and review_id in newest_ids:
                continue  # collected by the last run (another may share its second)
            if first_run and target.since is not None and when < target.since:
                reached_since = True
                break
            if top_at is None or when > top_at:
                top_at, top_ids = when, [review_id]
            elif when == top_at and review_id not in top_ids:
                top_ids.append(review_id)
            mentions.append(mention)
        stopped = (
            reviews == 0 or reached_known or reached_since or (first_run and target.since is None)
        )
        ended = stopped or number >= self.max_pages
        bound = newest_at if newest_at is not None else target.since
        cut = None
        # A last page that was not full held the feed's last reviews: nothing older exists.
        full = reviews >= _PER_PAGE
        if not stopped and ended and full and bound and oldest is not None and oldest > bound:
            window = (bound.astimezone(UTC), oldest.astimezone(UTC))
            reason = self._cut_reason(app, country, number, window, since=newest_at is None)
            cut = (reason, window)
        if ended:
            if top_at is not None:
                stream["newest_at"], stream["newest_ids"] = top_at.isoformat(), top_ids
            stream["sweep"] = None
        else:
            stream["sweep"] = {
                "page": number + 1,
                "top_at": top_at.isoformat() if top_at else None,
                "top_ids": top_ids,
            }
        return mentions, unparsed, ended, cut

    def _cut_reason(
        self,
        app: str,
        country: str,
        number: int,
        window: tuple[datetime, datetime],
        *,
        since: bool,
    ) -> str:
        """Why a sweep was cut short: which limit, the window it left, what to do."""
        limit = (
            f"Apple's limit of {_MAX_PAGES} pages (its {_MAX_PAGES * _PER_PAGE} latest reviews)"
            if number >= _MAX_PAGES
            else f"this source's max_pages ({self.max_pages})"
        )
        advice = (
            "Collect this source more often (a shorter interval)"
            if number >= _MAX_PAGES
            else f"Raise max_pages (up to {_MAX_PAGES}) or collect this source more often"
        )
        return (
            f"{_NAME}: app {app} in the {country} store: the reviews feed ended at {limit} "
            f"before reaching {'since' if since else 'the newest review collected before'}: "
            f"reviews from {window[0]:%Y-%m-%d %H:%M} to {window[1]:%Y-%m-%d %H:%M} UTC "
            f"were not read. {advice}."
        )


def _entries(body: Any, url: str) -> list[Any]:
    feed = body.get("feed") if isinstance(body, dict) else None
    if not isinstance(feed, dict):
        raise BadPayload(
            f"{_NAME}: {url} did not answer a reviews feed (no `feed` object)",
            source=_NAME,
            url=url,
        )
    entries = feed.get("entry")
    if entries is None:
        return []  # no reviews (or none left on this page)
    if isinstance(entries, dict):
        return [entries]  # Apple gives a lone review as an object
    if not isinstance(entries, list):
        raise BadPayload(
            f"{_NAME}: {url} answered a feed whose `entry` is neither a list nor an object",
            source=_NAME,
            url=url,
        )
    return entries


def _label(entry: dict[str, Any], *path: str) -> Any:
    value: Any = entry
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value.get("label") if isinstance(value, dict) else None


def _mention(entry: Any, brand: str, store_url: str) -> Mention:
    if not isinstance(entry, dict):
        raise UnparsableItem("review is not an object")
    review_id = _label(entry, "id")
    if not isinstance(review_id, str) or not review_id.strip():
        raise UnparsableItem("review has no id")
    content = _label(entry, "content")
    if not isinstance(content, str):
        raise UnparsableItem("review has no content")
    created_at = _parse_time(_label(entry, "updated"))
    if created_at is None:
        raise UnparsableItem("review has no valid `updated` time")
    try:
        rating = int(_label(entry, "im:rating"))
    except (TypeError, ValueError):
        raise UnparsableItem("review has no numeric im:rating") from None
    if not 1 <= rating <= 5:
        raise UnparsableItem(f"review rating {rating} is not between 1 and 5")
    title = _label(entry, "title")
    name = _label(entry, "author", "name")
    profile = _label(entry, "author", "uri")
    reviewer = _REVIEWER_ID.search(profile) if isinstance(profile, str) else None
    engagement = {
        key: int(value)
        for key, field in (("votes", "im:voteCount"), ("helpful", "im:voteSum"))
        if isinstance(value := _label(entry, field), str) and value.isdigit()
    }
    return Mention(
        source=_NAME,
        external_id=review_id.strip(),
        brand=brand,
        text=content.strip(),
        url=store_url,
        title=title.strip() if isinstance(title, str) and title.strip() else None,
        author=Author(
            id=reviewer.group(1) if reviewer else None,
            # A reviewer's nickname is their only public name on the App Store.
            handle=name if isinstance(name, str) and name else None,
            display_name=name if isinstance(name, str) and name else None,
            url=profile if isinstance(profile, str) and profile else None,
        ),
        created_at=created_at,
        rating=float(rating),
        owned=True,  # a review of the brand's own app, on its own page
        engagement=engagement,
        raw=entry,
    )
