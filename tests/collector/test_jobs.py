"""Building a watch list's jobs: each source constructed with its parameters and credentials."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from collector.base import CollectContext, Page, Target
from collector.jobs import build_jobs
from collector.sources.registry import (
    SourceFactory,
    SourceRegistry,
    default_registry,
    describe,
    describe_registry,
)
from collector.sources.replay import ReplaySource
from config.settings import Settings
from config.sources import CREDENTIALS, REQUIRED, SOURCE_TYPES, SourceParameter
from config.watchlist import WatchList, default_watchlist, load_watchlist
from goodwill.corpus import AIRLINES
from goodwill.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "watchlist.example.toml"
EXAMPLE_TYPES = {
    "hackernews",
    "reddit",
    "mastodon",
    "rss",
    "appstore",
    "stackexchange",
    "github",
    "bluesky",
    "jetstream",
    "youtube",
    "replay",
}


class StandIn:
    """A stand-in source for types not written yet: takes any parameters, fetches nothing."""

    name = "stand-in"

    def __init__(self, **params: Any) -> None:
        self.params = params

    async def fetch(self, ctx: CollectContext, target: Target, cursor: Any) -> Page:
        """An empty page."""
        return Page([], cursor)


def stand_in(kind: str) -> type[StandIn]:
    """A stand-in source class named ``kind``."""
    return type(f"StandIn_{kind}", (StandIn,), {"name": kind})


class NeedsUrls:
    """A source with a required parameter."""

    name = "rss"

    def __init__(self, *, urls: list[str], limit: int = 10) -> None:
        if not urls:
            raise ValueError("urls must list at least one feed")
        self.urls = urls

    async def fetch(self, ctx: CollectContext, target: Target, cursor: Any) -> Page:
        """An empty page."""
        return Page([], cursor)


class RedditLike:
    """A source that needs credentials: a plain client id and a SecretStr secret."""

    name = "reddit"

    def __init__(
        self, *, client_id: str, client_secret: SecretStr, subreddits: list[str] | None = None
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret

    async def fetch(self, ctx: CollectContext, target: Target, cursor: Any) -> Page:
        """An empty page."""
        return Page([], cursor)


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings with no GOODWILL_ variable from the environment."""
    for name in list(os.environ):
        if name.startswith("GOODWILL_"):
            monkeypatch.delenv(name)
    return Settings()


@pytest.fixture
def registry() -> dict[str, SourceFactory]:
    """The real registry, with a stand-in for YouTube (the one source that needs a key)."""
    found: dict[str, SourceFactory] = dict(default_registry())
    found["youtube"] = stand_in("youtube")
    return found


def write(tmp_path: Path, text: str) -> Path:
    """A watch list file holding ``text`` (dedented)."""
    path = tmp_path / "watchlist.toml"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def line_of(path: Path, needle: str, occurrence: int = 1) -> int:
    """The 1-based line number of the ``occurrence``-th line of ``path`` containing ``needle``."""
    seen = 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(f"{needle!r} not in {path}")


def load(
    path: Path, registry: SourceRegistry | None = None, settings: Settings | None = None
) -> WatchList:
    """Load ``path`` as the collector does: checked against ``registry``'s types, every source built."""
    registry = default_registry() if registry is None else registry
    watchlist = load_watchlist(path, settings=settings, sources=describe_registry(registry))
    build_jobs(watchlist, registry, settings)
    return watchlist


def config_error(path: Path, registry: dict[str, SourceFactory], settings: Settings) -> ConfigError:
    """The ConfigError that loading ``path`` and building its jobs raises."""
    with pytest.raises(ConfigError) as caught:
        load(path, registry, settings)
    return caught.value


ONE_BRAND = """
    [[brand]]
    name = "Acme"
    query = '"acme"'

      [[brand.source]]
      type = "replay"
    """


# --- the example and the happy path --------------------------------------------------


def test_the_example_builds_one_job_per_brand_and_source(
    registry: dict[str, SourceFactory], settings: Settings
) -> None:
    """Each job has its brand, its source built with the entry's parameters, interval and terms."""
    watchlist = load(EXAMPLE, registry, settings)
    jobs = {job.id: job for job in build_jobs(watchlist, registry, settings)}
    assert len(jobs) == sum(len(brand.sources) for brand in watchlist.brands)
    hackernews = jobs["hackernews:Acme"]
    assert hackernews.interval == 600
    assert hackernews.terms == ("acme", "acme corp", "@acmecorp")
    assert jobs["rss:Acme"].source.urls[0] == "https://blog.example.com/feed.xml"  # type: ignore[attr-defined]
    assert jobs["reddit:Acme"].interval == 900  # from [defaults]
    assert jobs["jetstream:Globex"].interval == 90
    assert isinstance(jobs["replay:Globex"].source, ReplaySource)
    assert jobs["replay:Globex"].source.per_run == 5


def test_the_example_builds_real_sources_once_credentials_are_set(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    """With the shipped registry, the example builds every source type it names; a missing key is named."""
    with pytest.raises(ConfigError) as caught:
        load(EXAMPLE, settings=settings)
    assert "GOODWILL_YOUTUBE_API_KEY" in str(caught.value) and str(EXAMPLE) in str(caught.value)
    monkeypatch.setenv("GOODWILL_YOUTUBE_API_KEY", "k")
    monkeypatch.setenv("GOODWILL_REDDIT_CLIENT_ID", "id")
    monkeypatch.setenv("GOODWILL_REDDIT_CLIENT_SECRET", "secret")
    jobs = build_jobs(load(EXAMPLE, settings=Settings()), settings=Settings())
    assert {job.source.name for job in jobs} == EXAMPLE_TYPES
    assert all(type(job.source).__module__.startswith("collector.sources.") for job in jobs)


def test_a_watch_list_can_be_built_in_code(settings: Settings) -> None:
    """Source parameters may be given as ``params``, and a watch list dumps to JSON."""
    watchlist = WatchList.model_validate(
        {
            "brand": [
                {
                    "name": "Acme",
                    "query": "acme lang:en",
                    "source": [{"type": "replay", "interval": "1m", "params": {"per_run": 2}}],
                }
            ]
        }
    )
    [job] = build_jobs(watchlist, settings=settings)
    assert isinstance(job.source, ReplaySource)
    assert job.source.per_run == 2
    assert job.interval == 60
    assert '"query":"\\"acme\\" lang:en"' in watchlist.model_dump_json(by_alias=True)


# --- errors: file, line, key, expectation --------------------------------------------


def test_a_parameter_the_source_refuses_is_named(
    tmp_path: Path, registry: dict[str, SourceFactory], settings: Settings
) -> None:
    """A ValueError from the source's constructor is reported under the parameter it names."""
    path = write(tmp_path, ONE_BRAND + "  backfill = 2.0\n")
    error = config_error(path, registry, settings)
    assert str(error) == (
        f"{path}, line {line_of(path, 'backfill')}: brand[0].source[0].backfill: the replay "
        "source refused its parameters: backfill is a fraction between 0 and 1"
    )


# --- credentials ---------------------------------------------------------------------


def test_credentials_come_from_settings(tmp_path: Path, settings: Settings) -> None:
    """build_jobs passes the settings' credentials, as SecretStr where the constructor says so."""
    path = write(tmp_path, ONE_BRAND.replace('"replay"', '"reddit"'))
    with_credentials = settings.model_copy(
        update={"reddit_client_id": SecretStr("the-id"), "reddit_client_secret": SecretStr("shh")}
    )
    watchlist = load(path, {"reddit": RedditLike}, with_credentials)
    [job] = build_jobs(watchlist, {"reddit": RedditLike}, with_credentials)
    assert isinstance(job.source, RedditLike)
    assert job.source.client_id == "the-id"
    assert job.source.client_secret == SecretStr("shh")


def test_credentials_are_only_given_to_constructors_that_take_them(
    tmp_path: Path, settings: Settings
) -> None:
    """A source whose constructor takes no credential gets none, even when it is set."""
    path = write(tmp_path, ONE_BRAND.replace('"replay"', '"github"'))
    with_token = settings.model_copy(update={"github_token": SecretStr("ghp_x")})

    class NoToken(StandIn):
        name = "github"

        def __init__(self, *, repos: list[str] | None = None) -> None:
            super().__init__()

    [job] = build_jobs(
        load(path, {"github": NoToken}, with_token),
        {"github": NoToken},
        with_token,
    )
    assert isinstance(job.source, NoToken)


# --- the demo ------------------------------------------------------------------------


def test_the_demo_watches_six_airlines_on_replay(settings: Settings) -> None:
    """Without a watch list, six airline brands each get a replay job at the replay interval."""
    demo = default_watchlist(settings)
    assert [brand.name for brand in demo.brands] == list(AIRLINES.values())
    jobs = build_jobs(demo, settings=settings)
    assert len(jobs) == 6
    assert {job.source.name for job in jobs} == {"replay"}
    assert {job.interval for job in jobs} == {settings.replay_interval_seconds}
    united = demo.brands[0]
    assert str(united.query) == '"@united" OR "united airlines"'
    assert len(united.competitors) == 5 and united.name not in united.competitors
    assert demo.path is None


# --- the registry and the description of source types --------------------------------


def test_the_registry_is_the_described_source_types() -> None:
    """Every shipped constructor takes exactly the parameters, defaults and types config describes."""
    registry = default_registry()
    assert describe_registry(registry) == SOURCE_TYPES
    assert all(factory.name == name for name, factory in registry.items())  # type: ignore[attr-defined]


def test_a_constructor_is_described_by_its_signature() -> None:
    """Required parameters, annotations and credentials are read; **params takes any parameter."""
    needs_urls = describe("rss", NeedsUrls)
    assert needs_urls.parameters == (
        SourceParameter("urls", "list[str]", REQUIRED),
        SourceParameter("limit", "int", 10),
    )
    assert not needs_urls.any_parameter and not needs_urls.takes("url")
    reddit = describe("reddit", RedditLike)
    assert reddit.credentials == CREDENTIALS["reddit"]
    assert reddit.options == ("subreddits",)
    assert reddit.parameter("client_secret") == SourceParameter("client_secret", "SecretStr")
    anything = describe("github", StandIn)
    assert anything.any_parameter and anything.takes("whatever")
