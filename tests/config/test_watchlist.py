"""The watch list: the example loads, every mistake is named by file, line, key and expectation.

These tests judge a watch list as it loads: against the description of each source type
(``config.sources``), without loading any source. Building the sources of a watch list is
``collector.jobs``'s (tests/collector/test_jobs.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pydantic import SecretStr

from config.alerting import resolve_destinations
from config.query import Query
from config.settings import Settings
from config.sources import CREDENTIALS, SOURCE_TYPES, SourceParameter, SourceType
from config.watchlist import (
    WatchList,
    default_watchlist,
    load_watchlist,
    parse_interval,
    watchlist_from_settings,
)
from goodwill.corpus import load_airline_tweets
from goodwill.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "watchlist.example.toml"
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

#: A source type with a required parameter.
NEEDS_URLS = SourceType(
    "rss", (SourceParameter("urls", "list[str]"), SourceParameter("limit", "int", 10))
)

#: A source type that needs credentials: a plain client id and a SecretStr secret.
REDDIT_LIKE = SourceType(
    "reddit",
    (
        SourceParameter("client_id", "str"),
        SourceParameter("client_secret", "SecretStr"),
        SourceParameter("subreddits", "list[str] | None", None),
    ),
    CREDENTIALS["reddit"],
)


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings with no GOODWILL_ variable from the environment."""
    for name in list(os.environ):
        if name.startswith("GOODWILL_"):
            monkeypatch.delenv(name)
    return Settings()


@pytest.fixture
def sources() -> dict[str, SourceType]:
    """The shipped source types."""
    return dict(SOURCE_TYPES)


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


def config_error(path: Path, sources: dict[str, SourceType], settings: Settings) -> ConfigError:
    """The ConfigError that loading ``path`` raises."""
    with pytest.raises(ConfigError) as caught:
        load_watchlist(path, settings=settings, sources=sources)
    return caught.value


ONE_BRAND = """
    [[brand]]
    name = "Acme"
    query = '"acme"'

      [[brand.source]]
      type = "replay"
    """


# --- the example and the happy path --------------------------------------------------


def test_the_example_loads(sources: dict[str, SourceType], settings: Settings) -> None:
    """The example file is valid, with two brands, competitors and every source type."""
    watchlist = load_watchlist(EXAMPLE, settings=settings, sources=sources)
    assert [brand.name for brand in watchlist.brands] == ["Acme", "Globex"]
    assert watchlist.brands[0].competitors == ["Globex", "Initech"]
    assert {source.type for brand in watchlist.brands for source in brand.sources} == EXAMPLE_TYPES
    assert watchlist.path == EXAMPLE
    assert watchlist.defaults.interval == 15 * 60


def test_each_brand_query_is_parsed(sources: dict[str, SourceType], settings: Settings) -> None:
    """WatchList.queries maps each brand to its parsed query."""
    watchlist = load_watchlist(EXAMPLE, settings=settings, sources=sources)
    acme = watchlist.queries["Acme"]
    assert isinstance(acme, Query)
    assert acme.matches_text("Acme Corp is great", "en")
    assert not acme.matches_text("acme anvils are heavy", "en")


def test_reading_the_watch_list_loads_no_stage(tmp_path: Path) -> None:
    """Loading and checking a watch list (as the dashboard does) imports nothing of the collector."""
    script = (
        "import sys\n"
        "from config.settings import Settings\n"
        "from config.watchlist import load_watchlist\n"
        f"load_watchlist({str(EXAMPLE)!r}, settings=Settings())\n"
        "stages = ('collector', 'scoring', 'alerts', 'dashboard', 'service')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in stages))\n"
    )
    env = {name: value for name, value in os.environ.items() if not name.startswith("GOODWILL_")}
    ran = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "[]"


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


def test_a_strict_brand_drops_mentions_of_unknown_language(
    tmp_path: Path, sources: dict[str, SourceType], settings: Settings
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
    query = load_watchlist(path, settings=settings, sources=sources).queries["Acme"]
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
    tmp_path: Path, sources: dict[str, SourceType], settings: Settings
) -> None:
    """TOML syntax errors give the file, line, column and the offending line."""
    path = write(tmp_path, ONE_BRAND + '  interval = "15m\n')
    message = str(config_error(path, sources, settings))
    assert message.startswith(f"{path}, line {line_of(path, 'interval')}, column ")
    assert "not valid TOML" in message
    assert 'interval = "15m' in message


def test_a_bad_interval_names_key_line_and_expectation(
    tmp_path: Path, sources: dict[str, SourceType], settings: Settings
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
    error = config_error(path, sources, settings)
    line = line_of(path, 'interval = "15 minutes"')
    assert str(error) == (
        f"{path}, line {line}: brand[1].source[0].interval: "
        'expected a duration such as "90s", "15m", "1h" or "1h30m" (or seconds), '
        "got '15 minutes'"
    )
    assert error.key == "brand[1].source[0].interval"


def test_a_bad_default_interval_is_named(
    tmp_path: Path, sources: dict[str, SourceType], settings: Settings
) -> None:
    """[defaults] interval is checked like any other."""
    path = write(tmp_path, '[defaults]\ninterval = "often"\n' + textwrap.dedent(ONE_BRAND))
    error = config_error(path, sources, settings)
    assert f"line {line_of(path, 'often')}: defaults.interval: expected a duration" in str(error)


def test_a_bad_query_names_the_brand_the_line_and_the_column(
    tmp_path: Path, sources: dict[str, SourceType], settings: Settings
) -> None:
    """A query syntax error is reported under brand[i].query with its column."""
    path = write(tmp_path, ONE_BRAND.replace("""'"acme"'""", """'("acme" OR "acme corp"'"""))
    error = config_error(path, sources, settings)
    assert str(error) == (
        f"{path}, line {line_of(path, 'query =')}: brand[0].query: "
        "bad query: unclosed parenthesis opened at column 1: expected )"
    )


@pytest.mark.parametrize("query", ["''", "'   '"])
def test_an_empty_query_is_refused(
    tmp_path: Path, sources: dict[str, SourceType], settings: Settings, query: str
) -> None:
    """An empty query is an error, not a query that matches everything."""
    path = write(tmp_path, ONE_BRAND.replace("""'"acme"'""", query))
    error = config_error(path, sources, settings)
    assert "brand[0].query: bad query: the query is empty" in str(error)


def test_a_query_that_is_not_a_string_is_refused(
    tmp_path: Path, sources: dict[str, SourceType], settings: Settings
) -> None:
    """query = ["acme"] says a string is expected."""
    path = write(tmp_path, ONE_BRAND.replace("""'"acme"'""", '["acme"]'))
    assert "brand[0].query: expected the query as a string, got list" in str(
        config_error(path, sources, settings)
    )


def test_a_missing_query_points_at_the_brand(
    tmp_path: Path, sources: dict[str, SourceType], settings: Settings
) -> None:
    """A brand without a query is named, at its [[brand]] line, with an example."""
    path = write(tmp_path, ONE_BRAND.replace("""query = '"acme"'""", ""))
    error = config_error(path, sources, settings)
    assert str(error).startswith(f"{path}, line {line_of(path, '[[brand]]')}: brand[0].query: ")
    assert "every brand needs a query, e.g. query =" in str(error)


def test_a_watch_list_without_brands_is_refused(
    tmp_path: Path, sources: dict[str, SourceType], settings: Settings
) -> None:
    """An empty file says that at least one [[brand]] is needed."""
    path = write(tmp_path, "# nothing yet\n")
    assert "at least one [[brand]]" in str(config_error(path, sources, settings))


def test_a_brand_without_sources_is_refused(
    tmp_path: Path, sources: dict[str, SourceType], settings: Settings
) -> None:
    """A brand with no [[brand.source]] would collect nothing: it is an error."""
    path = write(tmp_path, ONE_BRAND.split("  [[brand.source]]")[0])
    error = config_error(path, sources, settings)
    assert "brand[0].source: every brand needs at least one [[brand.source]]" in str(error)


def test_an_unknown_key_is_named_with_a_suggestion(
    tmp_path: Path, sources: dict[str, SourceType], settings: Settings
) -> None:
    """A misspelt brand key is refused, with the closest valid one and the list."""
    path = write(tmp_path, ONE_BRAND.replace("query =", "querry ="))
    message = str(config_error(path, sources, settings))
    assert f"line {line_of(path, 'querry')}: brand[0].querry: unknown key 'querry'" in message
    assert "did you mean 'query'?" in message
    assert "expected one of: name, query, competitors, strict_lang, source" in message


def test_an_unknown_top_level_table_is_named(
    tmp_path: Path, sources: dict[str, SourceType], settings: Settings
) -> None:
    """[[brands]] instead of [[brand]] is caught and the right name suggested."""
    path = write(
        tmp_path, ONE_BRAND.replace("[[brand]]", "[[brands]]").replace("brand.", "brands.")
    )
    message = str(config_error(path, sources, settings))
    assert f"line {line_of(path, '[[brands]]')}: brands: unknown key 'brands'" in message
    assert "did you mean 'brand'?" in message


def test_duplicate_brand_names_are_refused(
    tmp_path: Path, sources: dict[str, SourceType], settings: Settings
) -> None:
    """Two brands named alike (ignoring case) are refused at the second one's name."""
    path = write(tmp_path, ONE_BRAND + ONE_BRAND.replace('name = "Acme"', 'name = "ACME"'))
    error = config_error(path, sources, settings)
    assert str(error) == (
        f"{path}, line {line_of(path, 'name =', 2)}: brand[1].name: duplicate brand name 'ACME' "
        "(also brand[0]); each brand needs its own name"
    )


def test_competitors_must_be_strings(
    tmp_path: Path, sources: dict[str, SourceType], settings: Settings
) -> None:
    """A competitor that is not a string is named by its index."""
    path = write(tmp_path, ONE_BRAND.replace("query =", 'competitors = ["Globex", 42]\nquery ='))
    error = config_error(path, sources, settings)
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
    sources: dict[str, SourceType],
    settings: Settings,
    competitors: str,
    expected: str,
) -> None:
    """Competitors are an array of distinct names other than the brand's own."""
    path = write(tmp_path, ONE_BRAND.replace("query =", f"competitors = {competitors}\nquery ="))
    assert expected in str(config_error(path, sources, settings))


def test_an_unknown_source_type_lists_the_known_ones(tmp_path: Path, settings: Settings) -> None:
    """A typo in a source type is named, with every registered type."""
    path = write(tmp_path, ONE_BRAND.replace('type = "replay"', 'type = "hackernewz"'))
    sources = {"replay": SOURCE_TYPES["replay"], "hackernews": SOURCE_TYPES["hackernews"]}
    error = config_error(path, sources, settings)
    assert str(error) == (
        f"{path}, line {line_of(path, 'hackernewz')}: brand[0].source[0].type: "
        "unknown source type 'hackernewz'; expected one of: hackernews, replay"
    )


def test_an_unknown_source_parameter_lists_the_parameters(
    tmp_path: Path, sources: dict[str, SourceType], settings: Settings
) -> None:
    """A parameter the source does not take is named, with the closest one and the list."""
    path = write(tmp_path, ONE_BRAND + "  per_rum = 3\n")
    error = config_error(path, sources, settings)
    assert str(error) == (
        f"{path}, line {line_of(path, 'per_rum')}: brand[0].source[0].per_rum: the replay source "
        "takes no parameter 'per_rum'; did you mean 'per_run'? "
        "it takes: interval, backfill, backfill_days, per_run"
    )


@pytest.mark.parametrize(
    ("source", "parameter"),
    [("reddit", "owned_subreddits"), ("youtube", "owned_channel_ids")],
)
def test_owned_scopes_are_parameters_checked_on_load(
    tmp_path: Path,
    sources: dict[str, SourceType],
    settings: Settings,
    source: str,
    parameter: str,
) -> None:
    """The brand's own subreddits or channels load as parameters; a misspelt one is named."""
    settings = Settings(youtube_api_key=SecretStr("AIzaSy-test"))
    entry = f'type = "{source}"\n  {parameter} = ["AcmeCorp"]'
    path = write(tmp_path, ONE_BRAND.replace('type = "replay"', entry))
    watchlist = load_watchlist(path, settings=settings, sources=sources)
    assert watchlist.brands[0].sources[0].params == {parameter: ["AcmeCorp"]}
    path = write(
        tmp_path, ONE_BRAND.replace('type = "replay"', entry.replace(parameter, parameter[:-1]))
    )
    error = config_error(path, sources, settings)
    assert f"takes no parameter '{parameter[:-1]}'; did you mean '{parameter}'?" in str(error)


def test_a_missing_source_parameter_is_named(tmp_path: Path, settings: Settings) -> None:
    """A required parameter left out is named at the source's line."""
    path = write(tmp_path, ONE_BRAND.replace('type = "replay"', 'type = "rss"'))
    error = config_error(path, {"rss": NEEDS_URLS}, settings)
    assert str(error) == (
        f"{path}, line {line_of(path, '[[brand.source]]')}: brand[0].source[0]: "
        "the rss source needs the parameter 'urls'"
    )


def test_two_sources_of_one_type_for_one_brand_are_refused(
    tmp_path: Path, sources: dict[str, SourceType], settings: Settings
) -> None:
    """Two entries of one type would share a job id: the second one is refused."""
    path = write(tmp_path, ONE_BRAND + '\n  [[brand.source]]\n  type = "replay"\n')
    error = config_error(path, sources, settings)
    assert str(error).startswith(
        f"{path}, line {line_of(path, '[[brand.source]]', 2)}: brand[0].source[1]: "
        "'Acme' already has a replay source (brand[0].source[0])"
    )


def test_every_problem_is_reported_at_once(
    tmp_path: Path, sources: dict[str, SourceType], settings: Settings
) -> None:
    """Several mistakes are listed together, each with its line and key."""
    path = write(
        tmp_path,
        ONE_BRAND.replace("query =", "querry =").replace(
            'type = "replay"', 'type = "replay"\n  interval = "soon"'
        ),
    )
    error = config_error(path, sources, settings)
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
    sources: dict[str, SourceType],
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
    error = config_error(path, sources, settings)
    message = str(error)
    assert f"line {line_of(path, key + ' =')}: brand[0].source[0].{key}: credentials" in message
    assert f"set the environment variable {variable} instead" in message
    assert "s3cr3t-value" not in message
    assert error.key == f"brand[0].source[0].{key}"


@pytest.mark.parametrize("key", ["password", "secret", "api_key", "auth_token", "apiKey"])
def test_anything_that_looks_like_a_secret_is_refused(
    tmp_path: Path, sources: dict[str, SourceType], settings: Settings, key: str
) -> None:
    """Secret-looking keys are refused anywhere, even for sources that take no credentials."""
    path = write(tmp_path, ONE_BRAND + f'  {key} = "s3cr3t-value"\n')
    message = str(config_error(path, sources, settings))
    assert f"brand[0].source[0].{key}: credentials do not belong in the watch list" in message
    assert "the replay source takes no credentials" in message
    assert "s3cr3t-value" not in message


def test_a_url_with_a_password_is_refused(
    tmp_path: Path, sources: dict[str, SourceType], settings: Settings
) -> None:
    """A base_url with user:password@ in it is refused without echoing it."""
    path = write(
        tmp_path,
        ONE_BRAND.replace('"replay"', '"rss"') + '  base_url = "https://bob:hunter2@x.example"\n',
    )
    message = str(config_error(path, sources, settings))
    assert "brand[0].source[0].base_url: this URL holds a password" in message
    assert "hunter2" not in message


def test_a_missing_credential_names_its_variable(tmp_path: Path, settings: Settings) -> None:
    """A source that needs a credential that is not set says which variable to set."""
    path = write(tmp_path, ONE_BRAND.replace('"replay"', '"reddit"'))
    error = config_error(path, {"reddit": REDDIT_LIKE}, settings)
    assert (
        "brand[0].source[0]: the reddit source needs credentials: "
        "set GOODWILL_REDDIT_CLIENT_ID and GOODWILL_REDDIT_CLIENT_SECRET" in str(error)
    )


# --- the demo ------------------------------------------------------------------------


def test_the_demo_queries_match_the_replayed_tweets(settings: Settings) -> None:
    """Every replayed tweet of an airline matches that airline's demo query."""
    queries = default_watchlist(settings).queries
    tweets = load_airline_tweets("held_out")
    assert tweets
    assert all(queries[tweet.brand].matches_text(tweet.text, "en") for tweet in tweets)


def test_the_demo_alerts_on_the_dashboard_with_no_slack(settings: Settings) -> None:
    """The built-in demo has complaint, negative-spike and emerging-theme rules, all to the
    built-in dashboard destination, which resolves with no Slack webhook or token set."""
    demo = default_watchlist(settings)
    rules = {rule.rule: rule for rule in demo.alerts}
    assert set(rules) == {"complaint", "negative_spike", "emerging_theme"}
    assert all(rule.targets == ("dashboard",) for rule in demo.alerts)
    complaint = rules["complaint"]
    assert complaint.min_value is None and not complaint.tiers and complaint.min_reach is None
    assert complaint.max_age_hours is not None  # the replay's two-week back-fill raises nothing
    no_slack = settings.model_copy(update={"slack_webhook_url": None, "slack_bot_token": None})
    resolved = resolve_destinations(demo.destinations, no_slack, environ={})
    assert set(resolved) == {"dashboard"} and resolved["dashboard"].local


def test_the_watch_list_comes_from_settings(tmp_path: Path, settings: Settings) -> None:
    """GOODWILL_WATCHLIST unset gives the demo; set, it loads that file."""
    assert len(watchlist_from_settings(settings).brands) == 6
    path = write(tmp_path, ONE_BRAND)
    loaded = watchlist_from_settings(settings.model_copy(update={"watchlist": path}))
    assert isinstance(loaded, WatchList)
    assert [brand.name for brand in loaded.brands] == ["Acme"]
    assert loaded.path == path
