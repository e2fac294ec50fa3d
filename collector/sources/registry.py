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

__all__ = ["CREDENTIALS", "SourceFactory", "SourceRegistry", "default_registry"]

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
