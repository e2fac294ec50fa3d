"""The constructor of each source type a watch list may name, and each type's fetch budget.

A watch list's ``[[brand.source]]`` says ``type = "reddit"``; the registry maps that
name to the constructor of the source, which receives the entry's other keys as
keyword arguments (so a source's values are validated by constructing it). What a
watch list may say of each type (its parameters, defaults and the ``Settings`` fields
holding its credentials) is described as data in ``config.sources``, which checks a
watch list when it loads without loading any source; ``describe`` gives the same
description of any constructor, and the tests check that the shipped registry and
``config.sources.SOURCE_TYPES`` agree.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping

from collector.base import Source
from config.sources import CREDENTIALS, REQUIRED, SourceParameter, SourceType

__all__ = [
    "FETCHES_PER_MINUTE",
    "SourceFactory",
    "SourceRegistry",
    "default_registry",
    "describe",
    "describe_registry",
]

#: Builds a source from the keyword parameters of its watch-list entry.
SourceFactory = Callable[..., Source]

#: Source type name (as written in the watch list) -> its constructor.
SourceRegistry = Mapping[str, SourceFactory]

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


def describe(name: str, factory: Callable[..., object]) -> SourceType:
    """The source type ``name`` as its constructor ``factory`` defines it.

    Its keyword parameters in order, with their annotations and defaults, and the
    credentials of ``name`` (``config.sources.CREDENTIALS``). A constructor that takes
    ``**kwargs``, or whose signature cannot be read, takes any parameter.
    """
    credentials = CREDENTIALS.get(name, {})
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # some builtins have none; construction will tell
        return SourceType(name, (), credentials, any_parameter=True)
    parameters = tuple(
        SourceParameter(
            each.name,
            _annotation(each.annotation),
            REQUIRED if each.default is each.empty else each.default,
        )
        for each in signature.parameters.values()
        if each.kind in (each.POSITIONAL_OR_KEYWORD, each.KEYWORD_ONLY)
    )
    any_parameter = any(each.kind is each.VAR_KEYWORD for each in signature.parameters.values())
    return SourceType(name, parameters, credentials, any_parameter)


def describe_registry(registry: SourceRegistry) -> dict[str, SourceType]:
    """Each source type of ``registry`` as its constructor defines it (see ``describe``)."""
    return {name: describe(name, factory) for name, factory in registry.items()}


def _annotation(annotation: object) -> str:
    if annotation is inspect.Parameter.empty:
        return ""
    if isinstance(annotation, str):  # modules with ``from __future__ import annotations``
        return annotation
    return inspect.formatannotation(annotation)
