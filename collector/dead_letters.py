"""Who wrote an item a source could not parse: the author keys kept with its dead letter.

An item is dead-lettered because some field its source's parser needs is missing or
malformed; its author is usually still readable. ``author_keys`` reads it from the raw
item, best effort, from the same fields each source's parser reads (a small table, one
reader per source), and returns the identity and handle keys a mention of that author
would carry (``goodwill.identity``), so that a person's export and erasure find their
dead letters by key rather than by searching the payload (``store.erasures``).

``None`` means the author could not be read (a payload that is not the source's item at
all, a source with no reader here, or an item with no author fields): an erasure then
falls back to a bounded search of the payload.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from goodwill.identity import author_handle_key, identity_key

__all__ = ["author_keys"]

# (mention source, author id, author handle) as the source's parser would make them.
_Found = tuple[str, str | None, str | None]

_APPSTORE_REVIEWER = re.compile(r"/id(\d+)")


def _at(value: Any, *path: str) -> Any:
    """``value[path[0]][path[1]]...``, or None where a step is not an object."""
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _number(value: Any) -> str | None:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _reddit(item: Any) -> _Found | None:
    post = _at(item, "data")
    handle = _text(_at(post, "author"))
    if handle in ("[deleted]", "[removed]"):
        return None
    return "reddit", _text(_at(post, "author_fullname")) if handle else None, handle


def _hackernews(item: Any) -> _Found | None:
    author = _text(_at(item, "author"))
    return "hackernews", author, author


def _github(item: Any) -> _Found | None:
    user = _at(item, "user")
    if isinstance(user, Mapping):  # an issue (REST)
        return "github", _number(user.get("id")), _text(user.get("login"))
    author = _at(item, "author")  # a discussion (GraphQL)
    return "github", _number(_at(author, "databaseId")), _text(_at(author, "login"))


def _stackexchange(item: Any) -> _Found | None:
    return "stackexchange", _number(_at(item, "owner", "user_id")), None


def _youtube(item: Any) -> _Found | None:
    comment = _at(item, "snippet", "topLevelComment", "snippet") or _at(item, "snippet")
    name = _text(_at(comment, "authorDisplayName"))
    return (
        "youtube",
        _text(_at(comment, "authorChannelId", "value")),
        name if name and name.startswith("@") else None,
    )


def _appstore(item: Any) -> _Found | None:
    name = _text(_at(item, "author", "name", "label"))
    profile = _at(item, "author", "uri", "label")
    reviewer = _APPSTORE_REVIEWER.search(profile) if isinstance(profile, str) else None
    return "appstore", reviewer.group(1) if reviewer else None, name


def _mastodon(item: Any) -> _Found | None:
    # A local account's acct has no domain, and the instance is not in the item: only a
    # remote account (user@host) is a handle here, as the parser would write it.
    acct = _text(_at(item, "account", "acct"))
    handle = acct.lstrip("@") if acct and "@" in acct.lstrip("@") else None
    return "mastodon", handle, f"@{handle}" if handle else None


def _bluesky(item: Any) -> _Found | None:
    author = _at(item, "author")
    did = _text(_at(author, "did")) or _text(_at(item, "did"))  # a search post, a Jetstream event
    return "bluesky", did, _text(_at(author, "handle"))


_READERS: dict[str, Callable[[Any], _Found | None]] = {
    "reddit": _reddit,
    "hackernews": _hackernews,
    "github": _github,
    "stackexchange": _stackexchange,
    "youtube": _youtube,
    "appstore": _appstore,
    "mastodon": _mastodon,
    "bluesky": _bluesky,
    "jetstream": _bluesky,
}


def author_keys(source: str, payload: Any) -> list[str] | None:
    """The identity and handle keys of who wrote ``payload``, an item of ``source``.

    ``source`` is the collector's name (``jetstream`` reads as ``bluesky``, the source its
    mentions carry). ``None`` when the author cannot be read.
    """
    reader = _READERS.get(source)
    found = reader(payload) if reader is not None and isinstance(payload, Mapping) else None
    if found is None:
        return None
    name, author_id, handle = found
    author = {"id": author_id, "handle": handle}
    keys = {identity_key(name, author), author_handle_key(name, author)} - {None}
    return sorted(key for key in keys if key is not None) or None
