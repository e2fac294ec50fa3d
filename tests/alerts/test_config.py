"""Alert rules and destinations in the watch list: validated on load, secrets kept out."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path

import pytest
from pydantic import SecretStr

from config.alerting import QuietHours, resolve_destinations
from config.settings import Settings
from config.watchlist import load_watchlist
from goodwill.errors import ConfigError

BRAND = """
[[brand]]
name = "Acme"
query = "acme"
  [[brand.source]]
  type = "replay"
"""


def load(tmp_path: Path, text: str):
    path = tmp_path / "watchlist.toml"
    path.write_text(BRAND + text)
    return load_watchlist(path, settings=Settings())


def test_the_example_watch_list_loads_with_its_alerts() -> None:
    """config/watchlist.example.toml is valid and defines alert rules of every kind."""
    watchlist = load_watchlist(
        Path("config/watchlist.example.toml"),
        settings=Settings(
            youtube_api_key=SecretStr("k"),
            bluesky_handle="h",
            bluesky_app_password=SecretStr("p"),
        ),
    )
    assert {rule.rule for rule in watchlist.alerts} == {
        "complaint",
        "negative_spike",
        "tier_change",
        "digest",
    }
    assert set(watchlist.destinations) >= {rule.destination for rule in watchlist.alerts}


def test_rules_and_destinations_load(tmp_path: Path) -> None:
    """A complete alert section loads; defaults are filled in."""
    watchlist = load(
        tmp_path,
        """
[destinations.support]
webhook_env = "GOODWILL_SLACK_WEBHOOK_SUPPORT"
quiet_hours = "22:00-07:00"
timezone = "Europe/London"

[[alerts]]
rule = "complaint"
name = "vip"
destination = "support"
min_value = 1000
tiers = ["enterprise"]

[[alerts]]
rule = "tier_change"
destination = "support"
""",
    )
    vip, tiers = watchlist.alerts
    assert (
        vip.min_value == 1000
        and tiers.name == "tier_change"
        and tiers.tiers == ["advocate", "detractor"]
    )
    assert watchlist.destinations["support"].quiet == QuietHours(time(22), time(7), "Europe/London")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[destinations.s]\nwebhook_url = "https://hooks.slack.com/services/T/B/x"\n', "webhook_env"),
        ('[destinations.s]\n[[alerts]]\nrule = "complaint"\ndestination = "support"\n',
         "line 10: alerts[0].destination: no [destinations.support] table"),
        ('[destinations.s]\ntimezone = "Mars/Olympus"\n', "unknown time zone 'Mars/Olympus'"),
        ('[destinations.s]\n[[alerts]]\nrule = "complaint"\ndestination = "s"\nat = "09:00"\n',
         "the complaint rule takes no key 'at'"),
        ('[destinations.s]\n[[alerts]]\nrule = "panic"\ndestination = "s"\n', "alerts[0].rule"),
        ('[destinations.s]\n[[alerts]]\nrule = "digest"\ndestination = "s"\nat = "25:00"\n', '"HH:MM"'),
        ('[destinations.s]\n[[alerts]]\nrule = "complaint"\ndestination = "s"\nbrands = ["Nope"]\n',
         "'Nope' is not a [[brand]]"),
        ('[destinations.s]\nwebhook_env = "SLACK_URL"\n', "starting with GOODWILL_"),
        ('[destinations.dashboard]\nwebhook_env = "GOODWILL_SLACK_WEBHOOK_D"\n',
         "line 7: destinations.dashboard: 'dashboard' is the built-in destination"),
        ('[[alerts]]\nrule = "complaint"\ndestination = ["dashboard", "suport"]\n',
         "alerts[0].destination: no [destinations.suport] table; defined: dashboard"),
        ('[[alerts]]\nrule = "complaint"\ndestination = ["dashboard", "dashboard"]\n',
         "a destination is listed twice"),
        ('[[alerts]]\nrule = "complaint"\ndestination = []\n', "or a list of them"),
        ('[[alerts]]\nrule = "negative_spike"\ndestination = "dashboard"\nmax_age_hours = 2\n',
         "the negative_spike rule takes no key 'max_age_hours'"),
    ],
)  # fmt: skip
def test_bad_alert_config_is_refused_naming_file_line_and_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    """Each mistake names the file, the key and what is expected; webhook URLs are refused as secrets."""
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    assert expected in str(caught.value) and "watchlist.toml" in str(caught.value)


def test_the_dashboard_destination_is_built_in_and_needs_no_slack(tmp_path: Path) -> None:
    """``destination = "dashboard"`` needs no table and no secret: it resolves with no Slack set."""
    watchlist = load(
        tmp_path,
        '[[alerts]]\nrule = "complaint"\ndestination = "dashboard"\nmax_age_hours = 2\n',
    )
    (only,) = watchlist.alerts
    assert only.targets == ("dashboard",) and only.max_age_hours == 2
    resolved = resolve_destinations(
        watchlist.destinations, Settings(slack_webhook_url=None, slack_bot_token=None), environ={}
    )
    assert set(resolved) == {"dashboard"}
    assert resolved["dashboard"].local and resolved["dashboard"].kind == "dashboard"
    assert resolved["dashboard"].webhook_url is None


def test_a_rule_may_go_to_slack_and_the_dashboard(tmp_path: Path) -> None:
    """A list of destinations keeps its order; each resolves (Slack's with its secret)."""
    watchlist = load(
        tmp_path,
        '[destinations.support]\n[[alerts]]\nrule = "negative_spike"\n'
        'destination = ["support", "dashboard"]\n',
    )
    assert watchlist.alerts[0].targets == ("support", "dashboard")
    resolved = resolve_destinations(
        watchlist.destinations,
        Settings(slack_webhook_url=SecretStr("https://hooks.example/default")),
        environ={},
    )
    assert resolved["support"].kind == "webhook" and not resolved["support"].local
    assert resolved["dashboard"].local


def test_destinations_resolve_their_secret_from_the_environment(tmp_path: Path) -> None:
    """A webhook destination reads its variable; a missing one is named; channels need the bot token."""
    watchlist = load(
        tmp_path, '[destinations.a]\nwebhook_env = "GOODWILL_SLACK_WEBHOOK_A"\n[destinations.b]\n'
    )
    resolved = resolve_destinations(
        watchlist.destinations,
        Settings(slack_webhook_url=SecretStr("https://hooks.example/default")),
        environ={"GOODWILL_SLACK_WEBHOOK_A": "https://hooks.example/a"},
    )
    a_url, b_url = resolved["a"].webhook_url, resolved["b"].webhook_url
    assert a_url is not None and a_url.get_secret_value() == "https://hooks.example/a"
    assert b_url is not None and b_url.get_secret_value() == "https://hooks.example/default"
    with pytest.raises(ConfigError, match="GOODWILL_SLACK_WEBHOOK_A"):
        resolve_destinations(watchlist.destinations, Settings(), environ={})
    channel = load(tmp_path, '[destinations.c]\nchannel = "#ops"\n').destinations
    with pytest.raises(ConfigError, match="GOODWILL_SLACK_BOT_TOKEN"):
        resolve_destinations(channel, Settings(slack_bot_token=None), environ={})


def test_quiet_hours_span_midnight_in_their_time_zone() -> None:
    """22:00-07:00 in New York holds an alert raised at 23:30 there until 07:00 there."""
    quiet = QuietHours(time(22), time(7), "America/New_York")
    inside = datetime(2026, 1, 15, 4, 30, tzinfo=UTC)  # 23:30 in New York
    assert quiet.until(inside) == datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    assert quiet.until(datetime(2026, 1, 15, 17, 0, tzinfo=UTC)) is None  # noon there
