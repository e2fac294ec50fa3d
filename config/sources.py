"""The source types a watch list may name, described as data: parameters, defaults, credentials.

A watch list's ``[[brand.source]]`` says ``type = "reddit"``; its other keys are keyword
parameters of that source type. Loading a watch list checks each entry against the
description here (an unknown type, a parameter the type does not take, a required one left
out, a credential that is not set), so reading a watch list never loads a source. The
collector maps the same names to the sources' constructors
(``collector.sources.registry``), describes any registry the same way from the
constructors' signatures, and its tests check that the description of every shipped
constructor is the one here; building a source (``collector.jobs.build_jobs``) then checks
the parameters' values.

Credentials never come from the watch list: ``CREDENTIALS`` names, per type, the
constructor parameter and the ``Settings`` field (environment variable
``GOODWILL_<FIELD>``) that fills it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from pydantic import SecretStr

from config.settings import Settings

__all__ = [
    "CREDENTIALS",
    "REQUIRED",
    "SOURCE_TYPES",
    "SourceParameter",
    "SourceType",
]


class _Required:
    """The default of a parameter that has none (a watch list entry must give it)."""

    def __repr__(self) -> str:
        return "REQUIRED"


#: The ``default`` of a ``SourceParameter`` that must be given.
REQUIRED: Final = _Required()

#: Source type -> {constructor parameter: ``Settings`` field}. A credential is passed
#: only when the constructor takes that parameter and the setting is set.
CREDENTIALS: Final[Mapping[str, Mapping[str, str]]] = {
    "reddit": {"client_id": "reddit_client_id", "client_secret": "reddit_client_secret"},
    "bluesky": {"handle": "bluesky_handle", "app_password": "bluesky_app_password"},
    "youtube": {"api_key": "youtube_api_key"},
    "github": {"token": "github_token"},
    "stackexchange": {"key": "stackexchange_key"},
    "mastodon": {"access_token": "mastodon_access_token"},
}


@dataclass(frozen=True)
class SourceParameter:
    """One keyword parameter of a source type: its name, its type as written, its default."""

    name: str
    annotation: str = ""  # as written in the constructor, e.g. "list[str] | None"; "": none
    default: object = REQUIRED

    @property
    def required(self) -> bool:
        """Whether a watch list entry (or a credential) must give it."""
        return self.default is REQUIRED

    @property
    def secret(self) -> bool:
        """Whether it takes a ``SecretStr`` (a credential is then passed as one)."""
        return "SecretStr" in self.annotation


@dataclass(frozen=True)
class SourceType:
    """A source type as a watch list sees it: the parameters it takes and the credentials it reads.

    ``parameters`` are in the constructor's order, credentials among them;
    ``any_parameter`` is true for a type that takes any keyword (or whose parameters are
    not known), whose entries are then checked only by building the source.
    """

    name: str
    parameters: tuple[SourceParameter, ...] = ()
    credentials: Mapping[str, str] = field(default_factory=dict)
    any_parameter: bool = False

    def parameter(self, name: str) -> SourceParameter | None:
        """The parameter called ``name``, or None."""
        return next((each for each in self.parameters if each.name == name), None)

    def takes(self, name: str) -> bool:
        """Whether a parameter ``name`` may be passed to the source."""
        return self.any_parameter or self.parameter(name) is not None

    @property
    def options(self) -> tuple[str, ...]:
        """The parameters a watch list may set: all but the credentials, in order."""
        return tuple(each.name for each in self.parameters if each.name not in self.credentials)

    def credentials_from(self, settings: Settings) -> dict[str, object]:
        """The credentials set in ``settings`` that this type takes, by parameter.

        A ``SecretStr`` setting stays one for a parameter that says so, and is passed as
        plain text otherwise.
        """
        given: dict[str, object] = {}
        for name, setting in self.credentials.items():
            value = getattr(settings, setting, None)
            if value is None or not self.takes(name):
                continue
            described = self.parameter(name)
            if isinstance(value, SecretStr) and not (described is not None and described.secret):
                value = value.get_secret_value()
            given[name] = value
        return given


def _type(name: str, *parameters: SourceParameter) -> SourceType:
    return SourceType(name, parameters, CREDENTIALS.get(name, {}))


_P = SourceParameter

#: Every source type Goodwill ships, by the name a watch list gives it.
SOURCE_TYPES: Final[Mapping[str, SourceType]] = {
    each.name: each
    for each in (
        _type(
            "appstore",
            _P("base_url", "str", "https://itunes.apple.com"),
            _P("app_ids", "list[str] | None", None),
            _P("countries", "list[str] | None", None),
            _P("max_pages", "int", 10),
        ),
        _type(
            "bluesky",
            _P("base_url", "str", "https://public.api.bsky.app"),
            _P("pds_url", "str", "https://bsky.social"),
            _P("handle", "str | None", None),
            _P("app_password", "SecretStr | None", None),
            _P("limit", "int", 100),
            _P("overlap_seconds", "float", 120.0),
        ),
        _type(
            "github",
            _P("base_url", "str", "https://api.github.com"),
            _P("token", "SecretStr | None", None),
            _P("qualifiers", "str", ""),
            _P("per_page", "int", 100),
            _P("user_agent", "str", "goodwill/0.1 (open-source social listening)"),
            _P("discussions", "bool", False),
        ),
        _type(
            "hackernews",
            _P("base_url", "str", "https://hn.algolia.com/api/v1"),
            _P("stories", "bool", True),
            _P("comments", "bool", True),
            _P("hits_per_page", "int", 100),
        ),
        _type(
            "jetstream",
            _P("base_url", "str", "wss://jetstream2.us-east.bsky.network"),
            _P("profiles_url", "str", "https://public.api.bsky.app"),
            _P("window_seconds", "float", 20.0),
            _P("max_events", "int", 5000),
            _P("overlap_seconds", "float", 3.0),
            _P("connect_timeout", "float", 15.0),
        ),
        _type(
            "mastodon",
            _P("base_url", "str", "https://mastodon.social"),
            _P("hashtags", "list[str] | None", None),
            _P("access_token", "SecretStr | None", None),
            _P("limit", "int", 40),
        ),
        _type(
            "reddit",
            _P("base_url", "str", "https://www.reddit.com"),
            _P("oauth_url", "str", "https://oauth.reddit.com"),
            _P("auth_url", "str", "https://www.reddit.com/api/v1/access_token"),
            _P("client_id", "SecretStr | None", None),
            _P("client_secret", "SecretStr | None", None),
            _P("subreddits", "list[str] | None", None),
            _P("listing", "Literal['search', 'new']", "search"),
            _P("limit", "int", 100),
            _P("user_agent", "str", "python:goodwill:v0.1.0 (open-source social listening)"),
            _P("owned_subreddits", "list[str] | None", None),
        ),
        _type(
            "replay",
            _P("backfill", "float", 0.6),
            _P("backfill_days", "int", 14),
            _P("per_run", "int", 5),
        ),
        _type(
            "rss",
            _P("base_url", "str | None", None),
            _P("urls", "list[str] | None", None),
        ),
        _type(
            "stackexchange",
            _P("base_url", "str", "https://api.stackexchange.com/2.3"),
            _P("site", "str", "stackoverflow"),
            _P("key", "SecretStr | None", None),
            _P("tagged", "list[str] | None", None),
            _P("pagesize", "int", 100),
        ),
        _type(
            "youtube",
            _P("base_url", "str", "https://www.googleapis.com/youtube/v3"),
            _P("api_key", "SecretStr | None", None),
            _P("video_ids", "list[str] | None", None),
            _P("channel_ids", "list[str] | None", None),
            _P("owned_channel_ids", "list[str] | None", None),
            _P("search", "bool", False),
            _P("search_days", "int", 7),
            _P("search_interval_hours", "float", 6.0),
            _P("max_results", "int", 100),
        ),
    )
}
