"""Questions on a Stack Exchange site (Stack Overflow by default), through API 2.3.

API: ``GET https://api.stackexchange.com/2.3/search/advanced?q=TERM&site=stackoverflow
&sort=creation&order=desc&filter=withbody&fromdate=LOW&todate=HIGH&page=P&pagesize=100``
(docs: https://api.stackexchange.com/docs/advanced-search). Every answer is the common
wrapper ``{items, has_more, quota_max, quota_remaining, backoff?}``; a question's
``body`` is HTML and its ``title`` and owner's ``display_name`` are HTML-escaped.
Errors come as ``{error_id, error_name, error_message}``, usually with HTTP 400
(https://api.stackexchange.com/docs/error-handling).

Credentials: optional. Without a key an IP gets 300 requests a day; a free app key
(register an application at https://stackapps.com/apps/oauth/register, then set
``GOODWILL_STACKEXCHANGE_KEY``) raises that to 10,000. The key is not a secret in
Stack Exchange's eyes, but Goodwill keeps it out of logs and stored payloads anyway.

Paging and limits: ``q`` has no OR, so each term is its own search with its own place in
the cursor. Pages run from 1 while ``has_more``; pages above 25 need a key, so at page
25 the source narrows ``todate`` to the oldest question seen and starts again at page 1.
A ``backoff`` field (seconds before calling the method again) is obeyed: the page is
kept and the next fetch raises ``RateLimited`` until it has passed; the same when
``quota_remaining`` reaches 0 (until the next UTC midnight). ``throttle_violation``
(error 502) is ``RateLimited`` with the wait the message names.
"""

from __future__ import annotations

import html
import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import SecretStr

from collector.base import CollectContext, Page, Target
from collector.http import Response, parse_retry_after, request
from collector.sources._text import html_to_text
from collector.sources._window import TermWalks, wait_left
from goodwill.errors import BadPayload, RateLimited, SourceError, SourceUnavailable, UnparsableItem
from goodwill.models import Author, Mention

__all__ = ["StackExchangeSource"]

_NAME = "stackexchange"
#: The deepest page served without a key or access token.
_MAX_PAGE = 25
_DEFAULT_WAIT = 60.0
#: Sites whose questions are written in one language by the site's rules.
_SITE_LANG = {
    "stackoverflow": "en",
    "ru.stackoverflow": "ru",
    "es.stackoverflow": "es",
    "pt.stackoverflow": "pt",
    "ja.stackoverflow": "ja",
}
_SITE = re.compile(r"^[a-z0-9.-]+$")
_WAIT_IN_MESSAGE = re.compile(r"(\d+)\s*seconds?")


class StackExchangeSource:
    """Questions on one Stack Exchange site that match the brand's terms, newest first."""

    name = _NAME

    def __init__(
        self,
        *,
        base_url: str = "https://api.stackexchange.com/2.3",
        site: str = "stackoverflow",
        key: SecretStr | None = None,
        tagged: list[str] | None = None,
        pagesize: int = 100,
    ) -> None:
        """Configure the source.

        Args:
            base_url: the API root, version included.
            site: the site's API name (``stackoverflow``, ``superuser``, ``serverfault``...).
            key: an app key from stackapps.com (raises the daily quota to 10,000).
            tagged: only questions with at least one of these tags.
            pagesize: questions per request, 1 to 100.
        """
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        if not isinstance(site, str) or not _SITE.match(site):
            raise ValueError(
                f"site must be a site's API name such as 'stackoverflow', got {site!r}"
            )
        if not _is_int(pagesize) or not 1 <= pagesize <= 100:
            raise ValueError("pagesize must be between 1 and 100")
        if not isinstance(tagged, list | tuple | None) or any(
            not isinstance(tag, str) for tag in tagged or []
        ):
            raise ValueError("tagged must be a list of tag names")
        tags = [tag.strip() for tag in tagged or []]
        if any(not tag or ";" in tag for tag in tags):
            raise ValueError("tagged must be a list of non-empty tag names without ';'")
        self.base_url = base_url.rstrip("/")
        self.site = site
        self.key = key
        self.tagged = tags
        self.pagesize = pagesize

    async def fetch(self, ctx: CollectContext, target: Target, cursor: Any) -> Page:
        """One page of one term's search; ``more`` while any term's walk has pages left.

        The cursor is ``{"terms": [{"term": str, "newest": epoch | None, "walk": {...} | None}],
        "not_before": epoch | None}``: ``newest`` is the newest ``creation_date``
        collected, ``walk`` the window being paged through, ``not_before`` when the API's
        ``backoff`` or exhausted quota allows the next request.
        """
        now = time.time()
        wait = wait_left(cursor, now)
        if wait is not None:
            raise RateLimited(
                f"{_NAME}: the API asked us to wait; next request in {wait:.0f} s",
                source=_NAME,
                brand=target.brand,
                url=self._url,
                retry_after=wait,
            )
        walks = TermWalks(cursor, target, first_page=1, now=int(now))
        walk = walks.walk
        wrapper = await self._search(ctx, walks.term, walk)
        items, has_more = _envelope(wrapper, self._url)
        mentions: list[Mention] = []
        unparsed: list[tuple[str, Any]] = []
        times = [item["creation_date"] for item in items if _is_stamp(item, "creation_date")]
        for item in items:
            try:
                mention = self._mention(item, target.brand)
            except UnparsableItem as error:
                unparsed.append((str(error), item))
                continue
            if walks.below_window(item["creation_date"]):
                continue  # fromdate asks for nothing older; guard against a looser server
            # Deleted questions never appear in search results, so every item is content.
            mentions.append(mention)
        # Pages past 25 need a key: past them the window slides down instead.
        walks.step(times, next_page=has_more and walk["page"] < _MAX_PAGE, slide=has_more)
        new_cursor: dict[str, Any] = {"terms": walks.dump(), "not_before": _not_before(wrapper)}
        # A short backoff is waited out by the runner (the next fetch raises RateLimited);
        # a spent daily quota ends the run instead.
        more = walks.more and wrapper.get("quota_remaining") != 0
        return Page(mentions, new_cursor, more=more, unparsed=unparsed)

    @property
    def _url(self) -> str:
        return f"{self.base_url}/search/advanced"

    async def _search(self, ctx: CollectContext, term: str, walk: dict[str, Any]) -> Any:
        params: dict[str, str | int] = {
            "q": term,
            "site": self.site,
            "sort": "creation",
            "order": "desc",
            "filter": "withbody",
            "page": walk["page"],
            "pagesize": self.pagesize,
        }
        if walk["lower"] is not None:
            params["fromdate"] = walk["lower"]
        if walk["upper"] is not None:
            params["todate"] = walk["upper"]
        if self.tagged:
            params["tagged"] = ";".join(self.tagged)
        if self.key is not None:
            params["key"] = self.key.get_secret_value()
        # The API answers its errors as JSON bodies, mostly under HTTP 400 (502/503 in
        # rare cases), so those statuses are read here rather than mapped blindly.
        response = await request(ctx, _NAME, self._url, params=params, ok=(200, 400, 502, 503))
        return self._parse(response)

    def _parse(self, response: Response) -> Any:
        # Parsed here, not with Response.json: its error message quotes the final URL,
        # whose query string holds the key.
        try:
            body = json.loads(response.body)
        except ValueError as problem:
            body = None
            reason = f"not JSON ({problem})"
        else:
            reason = "not the API's wrapper object"
        if response.status == 200:
            if not isinstance(body, dict):
                raise BadPayload(
                    f"{_NAME}: {self._url} answered something that is {reason}; "
                    f"it began {self._scrub(response.body[:120].decode('utf-8', 'replace'))!r}",
                    source=_NAME,
                    url=self._url,
                )
            if "error_id" not in body:
                return body
        if isinstance(body, dict) and "error_id" in body:
            self._raise_api_error(body)
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if response.status == 503 and retry_after is not None:
            raise RateLimited(
                f"{_NAME}: {self._url} asked us to wait {retry_after:.0f} s (HTTP 503)",
                source=_NAME,
                url=self._url,
                retry_after=retry_after,
            )
        excerpt = self._scrub(response.body[:200].decode("utf-8", "replace"))
        kind = SourceUnavailable if response.status >= 500 else SourceError
        raise kind(
            f"{_NAME}: {self._url} answered HTTP {response.status}: {excerpt}",
            source=_NAME,
            url=self._url,
        )

    def _raise_api_error(self, body: dict[str, Any]) -> None:
        name = str(body.get("error_name", "unknown"))
        message = self._scrub(str(body.get("error_message", "")))
        said = f"{_NAME}: the API answered error {body.get('error_id')} {name}: {message}"
        if name == "throttle_violation":
            found = _WAIT_IN_MESSAGE.search(message)
            wait = float(found.group(1)) if found else _DEFAULT_WAIT
            raise RateLimited(said, source=_NAME, url=self._url, retry_after=wait)
        if name in ("internal_error", "temporarily_unavailable"):
            raise SourceUnavailable(said, source=_NAME, url=self._url)
        if name in ("bad_parameter", "key_required", "access_denied"):
            said += f" (check the source's site {self.site!r}, tagged and key settings)"
        raise SourceError(said, source=_NAME, url=self._url)

    def _scrub(self, text: str) -> str:
        if self.key is not None and self.key.get_secret_value():
            return text.replace(self.key.get_secret_value(), "**********")
        return text

    def _mention(self, item: Any, brand: str) -> Mention:
        if not isinstance(item, dict):
            raise UnparsableItem("item is not an object")
        question_id = item.get("question_id")
        if not isinstance(question_id, int) or isinstance(question_id, bool):
            raise UnparsableItem("question has no numeric question_id")
        if not _is_stamp(item, "creation_date"):
            raise UnparsableItem("question has no numeric creation_date")
        title = item.get("title")
        if not isinstance(title, str) or not title:
            raise UnparsableItem("question has no title")
        title = html.unescape(title)
        body = item.get("body")
        body_text = html_to_text(body) if isinstance(body, str) else ""
        link = item.get("link")
        engagement = {
            key: item[field]
            for key, field in (
                ("score", "score"),
                ("replies", "answer_count"),
                ("views", "view_count"),
            )
            if isinstance(item.get(field), int) and not isinstance(item.get(field), bool)
        }
        return Mention(
            source=_NAME,
            external_id=str(question_id),
            brand=brand,
            text=f"{title}\n\n{body_text}" if body_text else title,
            url=link if isinstance(link, str) else None,
            title=title,
            author=_author(item.get("owner")),
            lang=_SITE_LANG.get(self.site),
            created_at=datetime.fromtimestamp(item["creation_date"], UTC),
            engagement=engagement,
            raw=item,
        )


def _author(owner: Any) -> Author:
    if not isinstance(owner, dict):
        return Author()
    user_id = owner.get("user_id")
    name = owner.get("display_name")
    link = owner.get("link")
    return Author(
        # a deleted account ("user_type": "does_not_exist") keeps its name but has no id
        id=str(user_id) if isinstance(user_id, int) and not isinstance(user_id, bool) else None,
        display_name=html.unescape(name) if isinstance(name, str) and name else None,
        url=link if isinstance(link, str) else None,
    )


def _not_before(wrapper: dict[str, Any]) -> float | None:
    backoff = wrapper.get("backoff")
    waits = []
    if isinstance(backoff, int | float) and not isinstance(backoff, bool) and backoff > 0:
        waits.append(time.time() + float(backoff))
    if wrapper.get("quota_remaining") == 0:
        # The daily quota is spent; it is renewed at the next UTC midnight.
        tomorrow = datetime.now(UTC).date() + timedelta(days=1)
        waits.append(datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=UTC).timestamp())
    return max(waits) if waits else None


def _envelope(wrapper: dict[str, Any], url: str) -> tuple[list[Any], bool]:
    items = wrapper.get("items")
    if not isinstance(items, list):
        raise BadPayload(
            f"{_NAME}: {url} answered a wrapper without an 'items' list", source=_NAME, url=url
        )
    return items, wrapper.get("has_more") is True


def _is_stamp(item: Any, key: str) -> bool:
    if not isinstance(item, dict):
        return False
    value = item.get(key)
    return isinstance(value, int) and not isinstance(value, bool)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
