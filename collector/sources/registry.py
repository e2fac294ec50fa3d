"""Which source types a watch list may name, and which settings hold each one's credentials.

A watch list's ``[[brand.source]]`` says ``type = "reddit"``; the registry maps that
name to the constructor of the source, which receives the entry's other keys as
keyword arguments (so a source's parameters are validated by constructing it).
Credentials never come from the watch list: ``CREDENTIALS`` names, per type, the
constructor parameter and the ``Settings`` field (environment variable
``GOODWILL_<FIELD>``) that fills it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from collector.base import Source

__all__ = [
    "CREDENTIALS",
    "FETCHES_PER_MINUTE",
    "SourceFactory",
    "SourceRegistry",
    "default_registry",
]

#: Builds a source from the keyword parameters of its watch-list entry.
SourceFactory = Callable[..., Source]

#: Source type name (as written in the watch list) -> its constructor.
SourceRegistry = Mapping[str, SourceFactory]

#: Source type -> {constructor parameter: ``Settings`` field}. A credential is passed
#: only when the constructor takes that parameter and the setting is set.
CREDENTIALS: dict[str, dict[str, str]] = {
    "reddit": {"client_id": "reddit_client_id", "client_secret": "reddit_client_secret"},
    "bluesky": {"handle": "bluesky_handle", "app_password": "bluesky_app_password"},
    "youtube": {"api_key": "youtube_api_key"},
    "github": {"token": "github_token"},
    "stackexchange": {"key": "stackexchange_key"},
    "mastodon": {"access_token": "mastodon_access_token"},
}


#: Source type -> fetches per minute one collector process allows itself, across brands
#: (a fetch is one page, one or two requests). Below each API's documented limit for
#: one key or IP, so several brands sharing a key do not spend it in a burst.
FETCHES_PER_MINUTE: dict[str, float] = {
    "hackernews": 300,  # Algolia: 10,000 requests an hour per IP
    "reddit": 30,  # 100 a minute with OAuth, about 10 without
    "mastodon": 60,  # 300 per 5 minutes per IP or account
    "bluesky": 60,  # 3,000 per 5 minutes per IP
    "stackexchange": 20,  # 30 a second per IP, but 300 a day without a key
    "github": 20,  # search: 30 a minute with a token, 10 without
    "youtube": 30,  # 10,000 quota units a day; a search costs 100
    "appstore": 20,  # undocumented: be polite
    "rss": 60,
}


def default_registry() -> dict[str, SourceFactory]:
    """Every source type Goodwill ships, by the name a watch list gives it."""
    # Imported here, not at module level: a source module is loaded only when a watch
    # list is built, and one source's import cost never falls on the rest.
    from collector.sources.appstore import AppStoreSource
    from collector.sources.bluesky import BlueskySource
    from collector.sources.github import GitHubSource
    from collector.sources.hackernews import HackerNewsSource
    from collector.sources.jetstream import JetstreamSource
    from collector.sources.mastodon import MastodonSource
    from collector.sources.reddit import RedditSource
    from collector.sources.replay import ReplaySource
    from collector.sources.rss import RssSource
    from collector.sources.stackexchange import StackExchangeSource
    from collector.sources.youtube import YouTubeSource

    return {
        "appstore": AppStoreSource,
        "bluesky": BlueskySource,
        "github": GitHubSource,
        "hackernews": HackerNewsSource,
        "jetstream": JetstreamSource,
        "mastodon": MastodonSource,
        "reddit": RedditSource,
        "replay": ReplaySource,
        "rss": RssSource,
        "stackexchange": StackExchangeSource,
        "youtube": YouTubeSource,
    }
