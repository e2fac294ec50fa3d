"""Bluesky authors as both Bluesky sources store them, and their reach from ``getProfiles``.

One author, one identity: the search (``bluesky``) and the firehose (``jetstream``) build an
author the same way (``author``: the DID as id, the handle as handle, links by handle, or by
DID when the handle does not resolve), so a person is one identity whichever path saw them.

Reach: neither the search's author views (``profileViewBasic``) nor Jetstream's events carry a
follower count, so both sources ask ``app.bsky.actor.getProfiles`` for the authors of a page:
``GET {base_url}/xrpc/app.bsky.actor.getProfiles?actors={did}&actors={did}...``, at most 25
actors a call (https://docs.bsky.app/docs/api/app-bsky-actor-get-profiles; the public AppView
answers it without a login). The answer is ``{"profiles": [profileViewDetailed, ...]}`` with
``did``, ``handle``, ``displayName`` and ``followersCount``; an account that is gone (deleted,
deactivated, taken down) is left out of it.

What a lookup learnt is kept per DID, in the source instance, for a day (an account left out of
the answer for an hour, in case it is too new to be indexed yet), at most ``max_size`` DIDs,
the least recently looked up dropped first: an author costs one lookup a day. A lookup that
fails (a network fault, an error status, a body that is not a profile list, ``timeout``
exceeded) never fails the page: its mentions are stored without followers, the failure is
logged at debug level, and no lookup is tried for ``pause`` seconds (a 429's wait, if longer).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from multidict import MultiDict

from collector.base import CollectContext
from collector.http import request
from goodwill.errors import BadPayload, RateLimited, SourceError
from goodwill.models import Author

__all__ = ["MAX_ACTORS", "Profile", "Profiles", "author", "post_url"]

log = logging.getLogger(__name__)

#: The most actors one ``getProfiles`` call takes (its lexicon's ``maxLength``).
MAX_ACTORS = 25
_GET_PROFILES = "/xrpc/app.bsky.actor.getProfiles"
_DAY = 86_400.0
_MISSING_TTL = 3_600.0
# What the AppView puts in place of a handle that no longer resolves to its DID.
_INVALID_HANDLE = "handle.invalid"


@dataclass(frozen=True)
class Profile:
    """What ``getProfiles`` says of one account: its handle, display name and follower count."""

    did: str
    handle: str | None = None
    display_name: str | None = None
    followers: int | None = None


def _link_name(did: str, handle: str | None) -> str:
    return handle if handle else did


def author(
    did: str,
    handle: str | None = None,
    display_name: str | None = None,
    followers: int | None = None,
) -> Author:
    """A Bluesky author as both sources store it: the DID is the id, the handle the handle.

    ``handle.invalid`` (a handle that no longer resolves) is no handle; the link then uses
    the DID, which always resolves.
    """
    handle = handle if handle and handle != _INVALID_HANDLE else None
    return Author(
        id=did,
        handle=handle,
        display_name=display_name,
        followers=followers,
        url=f"https://bsky.app/profile/{_link_name(did, handle)}",
    )


def post_url(did: str, handle: str | None, rkey: str) -> str:
    """A post's link on bsky.app: by the author's handle, or by DID when it has none that resolves."""
    handle = handle if handle and handle != _INVALID_HANDLE else None
    return f"https://bsky.app/profile/{_link_name(did, handle)}/post/{rkey}"


class Profiles:
    """Authors' profiles by DID, looked up in batches of 25 and kept for a day; see the module.

    Args:
        base_url: the AppView asked (``https://public.api.bsky.app`` answers without a login).
        source: the source's name, for errors and logs.
        ttl: seconds a profile is kept.
        max_size: the most DIDs kept.
        pause: seconds without lookups after one failed.
        timeout: the longest a page's lookups may take, in seconds.
        clock: monotonic seconds (a test may move time on).
    """

    def __init__(
        self,
        base_url: str,
        source: str,
        *,
        ttl: float = _DAY,
        max_size: int = 50_000,
        pause: float = 60.0,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = f"{base_url.rstrip('/')}{_GET_PROFILES}"
        self.source = source
        self.ttl = ttl
        self.max_size = max_size
        self.pause = pause
        self.timeout = timeout
        self.clock = clock
        # did -> (expires at, the profile or None for an account the AppView left out)
        self._known: OrderedDict[str, tuple[float, Profile | None]] = OrderedDict()
        self._paused_until = 0.0

    async def lookup(self, ctx: CollectContext, dids: Iterable[str]) -> dict[str, Profile]:
        """The profiles of ``dids`` that are known or can be looked up now, by DID.

        Never raises for a failed lookup: the DIDs it was for are simply left out.
        """
        now = self.clock()
        found: dict[str, Profile] = {}
        wanted: list[str] = []
        for did in dict.fromkeys(dids):
            entry = self._known.get(did)
            if entry is not None and entry[0] > now:
                self._known.move_to_end(did)
                if entry[1] is not None:
                    found[did] = entry[1]
            else:
                wanted.append(did)
        if not wanted or now < self._paused_until:
            return found
        try:
            async with asyncio.timeout(self.timeout):
                for start in range(0, len(wanted), MAX_ACTORS):
                    batch = wanted[start : start + MAX_ACTORS]
                    profiles = await self._fetch(ctx, batch)
                    for did in batch:
                        self._remember(did, profiles.get(did))
                        if did in profiles:
                            found[did] = profiles[did]
        except (SourceError, TimeoutError) as error:
            pause = self.pause
            if isinstance(error, RateLimited):
                pause = max(pause, error.retry_after)
            self._paused_until = self.clock() + pause
            log.debug(
                "%s: looking up the follower counts of %d authors failed (%s: %s); their mentions are "
                "stored without followers, and no lookup is tried for %.0f s",
                self.source,
                len(wanted),
                error.__class__.__name__,
                str(error) or f"no answer within {self.timeout:.0f} s",
                pause,
            )
        return found

    async def _fetch(self, ctx: CollectContext, dids: list[str]) -> dict[str, Profile]:
        params = MultiDict(("actors", did) for did in dids)
        response = await request(ctx, self.source, self.url, params=params)
        body = response.json(self.source)
        views = body.get("profiles") if isinstance(body, dict) else None
        if not isinstance(views, list):
            raise BadPayload(
                f"{self.source}: {self.url} answered JSON without a profiles list: "
                f"{str(body)[:120]}",
                source=self.source,
                url=self.url,
            )
        profiles = (_profile(view) for view in views)
        return {profile.did: profile for profile in profiles if profile is not None}

    def _remember(self, did: str, profile: Profile | None) -> None:
        ttl = self.ttl if profile is not None else min(self.ttl, _MISSING_TTL)
        self._known[did] = (self.clock() + ttl, profile)
        self._known.move_to_end(did)
        while len(self._known) > self.max_size:
            self._known.popitem(last=False)


def _profile(view: Any) -> Profile | None:
    """A ``profileViewDetailed`` as a Profile (None when it names no DID)."""
    if not isinstance(view, dict) or not isinstance(view.get("did"), str):
        return None
    followers = view.get("followersCount")
    handle, name = view.get("handle"), view.get("displayName")
    return Profile(
        did=view["did"],
        handle=handle if isinstance(handle, str) and handle else None,
        display_name=name if isinstance(name, str) else None,
        followers=(
            followers
            if isinstance(followers, int) and not isinstance(followers, bool) and followers >= 0
            else None
        ),
    )
