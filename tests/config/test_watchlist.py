"""The watch list: the example loads, every mistake is named by file, line, key and expectation."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from collector.base import CollectContext, Page, Target
from collector.query import Query
from collector.sources.registry import SourceFactory, default_registry
from collector.sources.replay import ReplaySource
from config.settings import Settings
from config.watchlist import (
    WatchList,
    build_jobs,
    default_watchlist,
    load_watchlist,
    parse_interval,
    watchlist_from_settings,
)
from goodwill.corpus import AIRLINES, load_airline_tweets
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


def config_error(path: Path, registry: dict[str, SourceFactory], settings: Settings) -> ConfigError:
    """The ConfigError that loading ``path`` raises."""
    with pytest.raises(ConfigError) as caught:
        load_watchlist(path, registry=registry, settings=settings)
    return caught.value


ONE_BRAND = """
    [[brand]]
    name = "Acme"
    query = '"acme"'

      [[brand.source]]
      type = "replay"
    """


# --- the example and the happy path --------------------------------------------------


def test_the_example_loads(registry: dict[str, SourceFactory], settings: Settings) -> None:
    """The example file is valid, with two brands, competitors and every source type."""
    watchlist = load_watchlist(EXAMPLE, registry=registry, settings=settings)
    assert [brand.name for brand in watchlist.brands] == ["Acme", "Globex"]
    assert watchlist.brands[0].competitors == ["Globex", "Initech"]
    assert {source.type for brand in watchlist.brands for source in brand.sources} == EXAMPLE_TYPES
    assert watchlist.path == EXAMPLE
    assert watchlist.defaults.interval == 15 * 60


def test_the_example_builds_one_job_per_brand_and_source(
    registry: dict[str, SourceFactory], settings: Settings
) -> None:
    """Each job has its brand, its source built with the entry's parameters, interval and terms."""
    watchlist = load_watchlist(EXAMPLE, registry=registry, settings=settings)
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


def test_each_brand_query_is_parsed(registry: dict[str, SourceFactory], settings: Settings) -> None:
    """WatchList.queries maps each brand to its parsed query."""
    watchlist = load_watchlist(EXAMPLE, registry=registry, settings=settings)
    acme = watchlist.queries["Acme"]
    assert isinstance(acme, Query)
    assert acme.matches_text("Acme Corp is great", "en")
    assert not acme.matches_text("acme anvils are heavy", "en")


def test_the_example_builds_real_sources_once_credentials_are_set(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    """With the shipped registry, the example builds every source type it names; a missing key is named."""
    with pytest.raises(ConfigError) as caught:
        load_watchlist(EXAMPLE, settings=settings)
    assert "GOODWILL_YOUTUBE_API_KEY" in str(caught.value) and str(EXAMPLE) in str(caught.value)
    monkeypatch.setenv("GOODWILL_YOUTUBE_API_KEY", "k")
    monkeypatch.setenv("GOODWILL_REDDIT_CLIENT_ID", "id")
    monkeypatch.setenv("GOODWILL_REDDIT_CLIENT_SECRET", "secret")
    jobs = build_jobs(load_watchlist(EXAMPLE, settings=Settings()), settings=Settings())
    assert {job.source.name for job in jobs} == EXAMPLE_TYPES
    assert all(type(job.source).__module__.startswith("collector.sources.") for job in jobs)


@pytest.mark.parametrize(
    ("written", "seconds"),
    [
        ("90s", 90),
        ("15m", 900),
        ("1h", 3600),
        ("1h30m", 5400),
        ("2d", 172800),
        ("1.5h", 5400),
        (" 10 m ", 600),
        ("10M", 600),
        (45, 45),
        (2.5, 2.5),
    ],
)
def test_intervals_are_parsed(written: object, seconds: float) -> None:
    """Durations read as seconds: s, m, h, d, combined, or a plain number."""
    assert parse_interval(written) == seconds


@pytest.mark.parametrize("written", ["15", "15 minutes", "m", "", "-5m", "0s", 0, -1, True, [1]])
def test_bad_intervals_are_refused(written: object) -> None:
    """Anything but a positive duration of at least a second is refused with an example."""
    with pytest.raises(ValueError, match='expected a duration such as "90s"'):
        parse_interval(written)


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


def test_a_strict_brand_drops_mentions_of_unknown_language(
    tmp_path: Path, registry: dict[str, SourceFactory], settings: Settings
) -> None:
    """strict_lang = true makes a mention of unknown language fail lang: filters."""
    path = write(
        tmp_path,
        """
        [[brand]]
        name = "Acme"
        query = 'acme lang:en'
        strict_lang = true

          [[brand.source]]
          type = "replay"
        """,
    )
    query = load_watchlist(path, registry=registry, settings=settings).queries["Acme"]
    assert not query.matches_text("acme")
    assert query.matches_text("acme", "en")


# --- errors: file, line, key, expectation --------------------------------------------


def test_a_missing_file_is_named(tmp_path: Path, settings: Settings) -> None:
    """A watch list that does not exist is named, with what to do."""
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="does not exist") as caught:
        load_watchlist(missing, settings=settings)
    assert str(missing) in str(caught.value)
    assert caught.value.key == "GOODWILL_WATCHLIST"


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path, settings: Settings) -> None:
    """Bytes that are not UTF-8 are named as such."""
    path = tmp_path / "watchlist.toml"
    path.write_bytes(b'name = "caf\xe9"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_watchlist(path, settings=settings)


def test_a_toml_syntax_error_names_file_line_and_column(
    tmp_path: Path, registry: dict[str, SourceFactory], settings: Settings
) -> None:
    """TOML syntax errors give the file, line, column and the offending line."""
    path = write(tmp_path, ONE_BRAND + '  interval = "15m\n')
    message = str(config_error(path, registry, settings))
    assert message.startswith(f"{path}, line {line_of(path, 'interval')}, column ")
    assert "not valid TOML" in message
    assert 'interval = "15m' in message


def test_a_bad_interval_names_key_line_and_expectation(
    tmp_path: Path, registry: dict[str, SourceFactory], settings: Settings
) -> None:
    """A bad interval of the first source of the second brand is named exactly."""
    path = write(
        tmp_path,
        ONE_BRAND
        + """
        [[brand]]
        name = "Globex"
        query = 'globex'

          [[brand.source]]
          type = "replay"
          interval = "15 minutes"
        """,
    )
    error = config_error(path, registry, settings)
    line = line_of(path, 'interval = "15 minutes"')
    assert str(error) == (
        f"{path}, line {line}: brand[1].source[0].interval: "
        'expected a duration such as "90s", "15m", "1h" or "1h30m" (or seconds), '
        "got '15 minutes'"
    )
    assert error.key == "brand[1].source[0].interval"


def test_a_bad_default_interval_is_named(
    tmp_path: Path, registry: dict[str, SourceFactory], settings: Settings
) -> None:
    """[defaults] interval is checked like any other."""
    path = write(tmp_path, '[defaults]\ninterval = "often"\n' + textwrap.dedent(ONE_BRAND))
    error = config_error(path, registry, settings)
    assert f"line {line_of(path, 'often')}: defaults.interval: expected a duration" in str(error)


def test_a_bad_query_names_the_brand_the_line_and_the_column(
    tmp_path: Path, registry: dict[str, SourceFactory], settings: Settings
) -> None:
    """A query syntax error is reported under brand[i].query with its column."""
    path = write(tmp_path, ONE_BRAND.replace("""'"acme"'""", """'("acme" OR "acme corp"'"""))
    error = config_error(path, registry, settings)
    assert str(error) == (
        f"{path}, line {line_of(path, 'query =')}: brand[0].query: "
        "bad query: unclosed parenthesis opened at column 1: expected )"
    )


@pytest.mark.parametrize("query", ["''", "'   '"])
def test_an_empty_query_is_refused(
    tmp_path: Path, registry: dict[str, SourceFactory], settings: Settings, query: str
) -> None:
    """An empty query is an error, not a query that matches everything."""
    path = write(tmp_path, ONE_BRAND.replace("""'"acme"'""", query))
    error = config_error(path, registry, settings)
    assert "brand[0].query: bad query: the query is empty" in str(error)


def test_a_query_that_is_not_a_string_is_refused(
    tmp_path: Path, registry: dict[str, SourceFactory], settings: Settings
) -> None:
    """query = ["acme"] says a string is expected."""
    path = write(tmp_path, ONE_BRAND.replace("""'"acme"'""", '["acme"]'))
    assert "brand[0].query: expected the query as a string, got list" in str(
        config_error(path, registry, settings)
    )


def test_a_missing_query_points_at_the_brand(
    tmp_path: Path, registry: dict[str, SourceFactory], settings: Settings
) -> None:
    """A brand without a query is named, at its [[brand]] line, with an example."""
    path = write(tmp_path, ONE_BRAND.replace("""query = '"acme"'""", ""))
    error = config_error(path, registry, settings)
    assert str(error).startswith(f"{path}, line {line_of(path, '[[brand]]')}: brand[0].query: ")
    assert "every brand needs a query, e.g. query =" in str(error)


def test_a_watch_list_without_brands_is_refused(
    tmp_path: Path, registry: dict[str, SourceFactory], settings: Settings
) -> None:
    """An empty file says that at least one [[brand]] is needed."""
    path = write(tmp_path, "# nothing yet\n")
    assert "at least one [[brand]]" in str(config_error(path, registry, settings))


def test_a_brand_without_sources_is_refused(
    tmp_path: Path, registry: dict[str, SourceFactory], settings: Settings
) -> None:
    """A brand with no [[brand.source]] would collect nothing: it is an error."""
    path = write(tmp_path, ONE_BRAND.split("  [[brand.source]]")[0])
    error = config_error(path, registry, settings)
    assert "brand[0].source: every brand needs at least one [[brand.source]]" in str(error)


def test_an_unknown_key_is_named_with_a_suggestion(
    tmp_path: Path, registry: dict[str, SourceFactory], settings: Settings
) -> None:
    """A misspelt brand key is refused, with the closest valid one and the list."""
    path = write(tmp_path, ONE_BRAND.replace("query =", "querry ="))
    message = str(config_error(path, registry, settings))
    assert f"line {line_of(path, 'querry')}: brand[0].querry: unknown key 'querry'" in message
    assert "did you mean 'query'?" in message
    assert "expected one of: name, query, competitors, strict_lang, source" in message


def test_an_unknown_top_level_table_is_named(
    tmp_path: Path, registry: dict[str, SourceFactory], settings: Settings
) -> None:
    """[[brands]] instead of [[brand]] is caught and the right name suggested."""
    path = write(
        tmp_path, ONE_BRAND.replace("[[brand]]", "[[brands]]").replace("brand.", "brands.")
    )
    message = str(config_error(path, registry, settings))
    assert f"line {line_of(path, '[[brands]]')}: brands: unknown key 'brands'" in message
    assert "did you mean 'brand'?" in message


def test_duplicate_brand_names_are_refused(
    tmp_path: Path, registry: dict[str, SourceFactory], settings: Settings
) -> None:
    """Two brands named alike (ignoring case) are refused at the second one's name."""
    path = write(tmp_path, ONE_BRAND + ONE_BRAND.replace('name = "Acme"', 'name = "ACME"'))
    error = config_error(path, registry, settings)
    assert str(error) == (
        f"{path}, line {line_of(path, 'name =', 2)}: brand[1].name: duplicate brand name 'ACME' "
        "(also brand[0]); each brand needs its own name"
    )


def test_competitors_must_be_strings(
    tmp_path: Path, registry: dict[str, SourceFactory], settings: Settings
) -> None:
    """A competitor that is not a string is named by its index."""
    path = write(tmp_path, ONE_BRAND.replace("query =", 'competitors = ["Globex", 42]\nquery ='))
    error = config_error(path, registry, settings)
    assert str(error) == (
        f"{path}, line {line_of(path, 'competitors')}: brand[0].competitors[1]: "
        "expected a string (in quotes) (got 42)"
    )


@pytest.mark.parametrize(
    ("competitors", "expected"),
    [
        ('"Globex"', "brand[0].competitors: expected an array"),
        ('["acme"]', "'Acme' cannot be its own competitor"),
        ('["Globex", "globex"]', "brand[0].competitors[1]: 'globex' is listed twice"),
        ('["  "]', "brand[0].competitors[0]: expected a competitor's name"),
    ],
)
def test_competitors_are_checked(
    tmp_path: Path,
    registry: dict[str, SourceFactory],
    settings: Settings,
    competitors: str,
    expected: str,
) -> None:
    """Competitors are an array of distinct names other than the brand's own."""
    path = write(tmp_path, ONE_BRAND.replace("query =", f"competitors = {competitors}\nquery ="))
    assert expected in str(config_error(path, registry, settings))


def test_an_unknown_source_type_lists_the_known_ones(tmp_path: Path, settings: Settings) -> None:
    """A typo in a source type is named, with every registered type."""
    path = write(tmp_path, ONE_BRAND.replace('type = "replay"', 'type = "hackernewz"'))
    registry = {"replay": ReplaySource, "hackernews": stand_in("hackernews")}
    error = config_error(path, registry, settings)  # type: ignore[arg-type]
    assert str(error) == (
        f"{path}, line {line_of(path, 'hackernewz')}: brand[0].source[0].type: "
        "unknown source type 'hackernewz'; expected one of: hackernews, replay"
    )


def test_an_unknown_source_parameter_lists_the_parameters(
    tmp_path: Path, registry: dict[str, SourceFactory], settings: Settings
) -> None:
    """A parameter the source does not take is named, with the closest one and the list."""
    path = write(tmp_path, ONE_BRAND + "  per_rum = 3\n")
    error = config_error(path, registry, settings)
    assert str(error) == (
        f"{path}, line {line_of(path, 'per_rum')}: brand[0].source[0].per_rum: the replay source "
        "takes no parameter 'per_rum'; did you mean 'per_run'? "
        "it takes: interval, backfill, backfill_days, per_run"
    )


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


def test_a_missing_source_parameter_is_named(tmp_path: Path, settings: Settings) -> None:
    """A required parameter left out is named at the source's line."""
    path = write(tmp_path, ONE_BRAND.replace('type = "replay"', 'type = "rss"'))
    error = config_error(path, {"rss": NeedsUrls}, settings)
    assert str(error) == (
        f"{path}, line {line_of(path, '[[brand.source]]')}: brand[0].source[0]: "
        "the rss source needs the parameter 'urls'"
    )


def test_two_sources_of_one_type_for_one_brand_are_refused(
    tmp_path: Path, registry: dict[str, SourceFactory], settings: Settings
) -> None:
    """Two entries of one type would share a job id: the second one is refused."""
    path = write(tmp_path, ONE_BRAND + '\n  [[brand.source]]\n  type = "replay"\n')
    error = config_error(path, registry, settings)
    assert str(error).startswith(
        f"{path}, line {line_of(path, '[[brand.source]]', 2)}: brand[0].source[1]: "
        "'Acme' already has a replay source (brand[0].source[0])"
    )


def test_every_problem_is_reported_at_once(
    tmp_path: Path, registry: dict[str, SourceFactory], settings: Settings
) -> None:
    """Several mistakes are listed together, each with its line and key."""
    path = write(
        tmp_path,
        ONE_BRAND.replace("query =", "querry =").replace(
            'type = "replay"', 'type = "replay"\n  interval = "soon"'
        ),
    )
    error = config_error(path, registry, settings)
    lines = str(error).splitlines()
    assert lines[0] == f"{path} has 3 problems:"
    assert any(
        line.startswith(f"  line {line_of(path, 'soon')}: brand[0].source[0].interval:")
        for line in lines
    )
    assert any("brand[0].query: every brand needs a query" in line for line in lines)
    assert any("brand[0].querry: unknown key" in line for line in lines)


# --- secrets -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "key", "variable"),
    [
        ("github", "token", "GOODWILL_GITHUB_TOKEN"),
        ("youtube", "api_key", "GOODWILL_YOUTUBE_API_KEY"),
        ("reddit", "client_secret", "GOODWILL_REDDIT_CLIENT_SECRET"),
        ("reddit", "client_id", "GOODWILL_REDDIT_CLIENT_ID"),
        ("bluesky", "app_password", "GOODWILL_BLUESKY_APP_PASSWORD"),
        ("stackexchange", "key", "GOODWILL_STACKEXCHANGE_KEY"),
    ],
)
def test_credentials_in_the_file_are_refused_with_their_variable(
    tmp_path: Path,
    registry: dict[str, SourceFactory],
    settings: Settings,
    kind: str,
    key: str,
    variable: str,
) -> None:
    """A source credential in the TOML is refused, naming the environment variable to use."""
    path = write(
        tmp_path,
        ONE_BRAND.replace('type = "replay"', f'type = "{kind}"\n  {key} = "s3cr3t-value"'),
    )
    error = config_error(path, registry, settings)
    message = str(error)
    assert f"line {line_of(path, key + ' =')}: brand[0].source[0].{key}: credentials" in message
    assert f"set the environment variable {variable} instead" in message
    assert "s3cr3t-value" not in message
    assert error.key == f"brand[0].source[0].{key}"


@pytest.mark.parametrize("key", ["password", "secret", "api_key", "auth_token", "apiKey"])
def test_anything_that_looks_like_a_secret_is_refused(
    tmp_path: Path, registry: dict[str, SourceFactory], settings: Settings, key: str
) -> None:
    """Secret-looking keys are refused anywhere, even for sources that take no credentials."""
    path = write(tmp_path, ONE_BRAND + f'  {key} = "s3cr3t-value"\n')
    message = str(config_error(path, registry, settings))
    assert f"brand[0].source[0].{key}: credentials do not belong in the watch list" in message
    assert "the replay source takes no credentials" in message
    assert "s3cr3t-value" not in message


def test_a_url_with_a_password_is_refused(
    tmp_path: Path, registry: dict[str, SourceFactory], settings: Settings
) -> None:
    """A base_url with user:password@ in it is refused without echoing it."""
    path = write(
        tmp_path,
        ONE_BRAND.replace('"replay"', '"rss"') + '  base_url = "https://bob:hunter2@x.example"\n',
    )
    message = str(config_error(path, registry, settings))
    assert "brand[0].source[0].base_url: this URL holds a password" in message
    assert "hunter2" not in message


def test_credentials_come_from_settings(tmp_path: Path, settings: Settings) -> None:
    """build_jobs passes the settings' credentials, as SecretStr where the constructor says so."""
    path = write(tmp_path, ONE_BRAND.replace('"replay"', '"reddit"'))
    with_credentials = settings.model_copy(
        update={"reddit_client_id": SecretStr("the-id"), "reddit_client_secret": SecretStr("shh")}
    )
    watchlist = load_watchlist(path, registry={"reddit": RedditLike}, settings=with_credentials)
    [job] = build_jobs(watchlist, {"reddit": RedditLike}, with_credentials)
    assert isinstance(job.source, RedditLike)
    assert job.source.client_id == "the-id"
    assert job.source.client_secret == SecretStr("shh")


def test_a_missing_credential_names_its_variable(tmp_path: Path, settings: Settings) -> None:
    """A source that needs a credential that is not set says which variable to set."""
    path = write(tmp_path, ONE_BRAND.replace('"replay"', '"reddit"'))
    error = config_error(path, {"reddit": RedditLike}, settings)
    assert (
        "brand[0].source[0]: the reddit source needs credentials: "
        "set GOODWILL_REDDIT_CLIENT_ID and GOODWILL_REDDIT_CLIENT_SECRET" in str(error)
    )


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
        load_watchlist(path, registry={"github": NoToken}, settings=with_token),
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


def test_the_demo_queries_match_the_replayed_tweets(settings: Settings) -> None:
    """Every replayed tweet of an airline matches that airline's demo query."""
    queries = default_watchlist(settings).queries
    tweets = load_airline_tweets("held_out")
    assert tweets
    assert all(queries[tweet.brand].matches_text(tweet.text, "en") for tweet in tweets)


def test_the_watch_list_comes_from_settings(tmp_path: Path, settings: Settings) -> None:
    """GOODWILL_WATCHLIST unset gives the demo; set, it loads that file."""
    assert len(watchlist_from_settings(settings).brands) == 6
    path = write(tmp_path, ONE_BRAND)
    loaded = watchlist_from_settings(settings.model_copy(update={"watchlist": path}))
    assert isinstance(loaded, WatchList)
    assert [brand.name for brand in loaded.brands] == ["Acme"]
    assert loaded.path == path
