"""Alert rules and destinations of the watch list (``[[alerts]]``, ``[destinations.NAME]``).

In the watch list::

    [destinations.support]
    webhook_env = "GOODWILL_SLACK_WEBHOOK_SUPPORT"  # the variable holding the webhook URL
                                                    # (default: GOODWILL_SLACK_WEBHOOK_URL)
    quiet_hours = "22:00-07:00"                     # optional: delivery waits until 07:00
    timezone = "Europe/London"                      # IANA time zone of the quiet hours

    [destinations.ops]
    channel = "#ops-alerts"                         # a bot token (GOODWILL_SLACK_BOT_TOKEN) posts here

    [[alerts]]
    rule = "complaint"                              # complaint | negative_spike | tier_change | digest | emerging_theme
    name = "vip-complaints"                         # optional; unique; default: the rule
    destination = ["support", "dashboard"]          # one destination, or several
    brands = ["Acme"]                               # optional; default: every brand
    min_value = 10000                               # any of these three makes a complaint alert-worthy
    tiers = ["enterprise"]
    min_reach = 50000
    max_age_hours = 24                              # optional: older posts (a back-fill) raise nothing

``dashboard`` is the built-in local destination (``LOCAL_DESTINATION``): it needs no
table and no Slack; its alerts are kept in the outbox, marked delivered at once, and shown
on the dashboard's Sources and alerts page.

Webhook URLs and tokens are secrets: the file names the environment variable, never the
value. ``resolve_destinations`` reads them (this and ``config.settings`` are the only places
that read the environment).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from config.settings import Settings
from goodwill.errors import ConfigError

__all__ = [
    "ALERT_RULES",
    "LOCAL_DESTINATION",
    "AlertRuleConfig",
    "Destination",
    "DestinationConfig",
    "QuietHours",
    "resolve_destinations",
]

ALERT_RULES = ("complaint", "negative_spike", "tier_change", "digest", "emerging_theme")
DEFAULT_WEBHOOK_ENV = "GOODWILL_SLACK_WEBHOOK_URL"
DEFAULT_API_URL = "https://slack.com/api"
LOCAL_DESTINATION = "dashboard"
"""The built-in destination: alerts shown on the dashboard, no Slack needed."""

_STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_ENV_NAME = re.compile(r"^GOODWILL_[A-Z0-9_]+$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")

# Keys each rule takes besides rule, name, destination and brands.
_RULE_KEYS: dict[str, tuple[str, ...]] = {
    "complaint": ("min_value", "tiers", "min_reach", "max_age_hours"),
    "negative_spike": (
        "alpha",
        "min_count",
        "baseline_days",
        "seasonality",
        "windows",
        "min_history_days",
    ),
    "tier_change": ("tiers",),
    "digest": ("at", "timezone", "top"),
    # A complaint theme's last 24 h against its own past days (alerts/engine.py).
    "emerging_theme": ("alpha", "min_count", "baseline_days", "min_history_days", "top"),
}
_COMMON_KEYS = ("rule", "name", "destination", "brands")


def _clock(value: object, what: str) -> time:
    if not isinstance(value, str) or not _CLOCK.match(value.strip()):
        raise ValueError(f'expected {what} as "HH:MM" (24-hour clock), got {value!r}')
    hours, minutes = value.strip().split(":")
    return time(int(hours), int(minutes))


def _zone(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f'expected an IANA time zone such as "Europe/London", got {value!r}')
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f'unknown time zone {value!r}; expected an IANA name such as "Europe/London" or "UTC"'
        ) from None
    return value


@dataclass(frozen=True)
class QuietHours:
    """A daily window (local time) in which nothing is delivered; it may span midnight."""

    start: time
    end: time
    timezone: str

    def until(self, now: datetime) -> datetime | None:
        """When the quiet window around ``now`` ends (aware, UTC), or None outside it."""
        zone = ZoneInfo(self.timezone)
        local = now.astimezone(zone)
        clock = local.time().replace(tzinfo=None)
        if self.start == self.end:
            return None
        if self.start < self.end:
            inside = self.start <= clock < self.end
            end_day = local.date()
        else:  # spans midnight: 22:00-07:00
            inside = clock >= self.start or clock < self.end
            end_day = local.date() + timedelta(days=1) if clock >= self.start else local.date()
        if not inside:
            return None
        ends = datetime.combine(end_day, self.end, tzinfo=zone)
        return ends.astimezone(now.tzinfo)


class DestinationConfig(BaseModel):
    """One ``[destinations.NAME]``: an incoming webhook (by variable) or a bot-token channel."""

    model_config = _STRICT

    webhook_env: str | None = None
    channel: str | None = None
    api_url: str = DEFAULT_API_URL
    quiet_hours: str | None = None
    timezone: str = "UTC"

    @field_validator("webhook_env")
    @classmethod
    def _env(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError(
                "expected the name of an environment variable starting with GOODWILL_, "
                f'such as "GOODWILL_SLACK_WEBHOOK_SUPPORT", got {value!r}'
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        return _zone(value)

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = value.split("-")
        if len(parts) != 2:
            raise ValueError(f'expected quiet hours as "22:00-07:00", got {value!r}')
        _clock(parts[0], "the start"), _clock(parts[1], "the end")
        return value

    @field_validator("api_url")
    @classmethod
    def _api(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"expected an http(s) URL, got {value!r}")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _one_kind(self) -> DestinationConfig:
        if self.channel is not None and self.webhook_env is not None:
            raise ValueError(
                "a destination is either a webhook (webhook_env) or a channel (channel), not both"
            )
        return self

    @property
    def quiet(self) -> QuietHours | None:
        """The quiet hours, parsed."""
        if self.quiet_hours is None:
            return None
        start, end = self.quiet_hours.split("-")
        return QuietHours(_clock(start, "start"), _clock(end, "end"), self.timezone)


class AlertRuleConfig(BaseModel):
    """One ``[[alerts]]`` rule: which rule, its thresholds, and where it goes."""

    model_config = _STRICT

    rule: Literal["complaint", "negative_spike", "tier_change", "digest", "emerging_theme"]
    name: str = ""
    destination: str | list[str]
    brands: list[str] = Field(default_factory=list)
    # complaint
    min_value: float | None = Field(default=None, ge=0)
    tiers: list[str] = Field(default_factory=list)
    min_reach: int | None = Field(default=None, ge=0)
    max_age_hours: float | None = Field(default=None, gt=0)
    # negative_spike
    alpha: float = Field(default=0.001, gt=0, lt=0.5)
    min_count: int = Field(default=5, ge=1)
    baseline_days: int = Field(default=14, ge=1, le=90)
    seasonality: Literal["auto", "daily", "weekly"] = "auto"
    windows: list[int] = Field(default_factory=lambda: [1, 3, 6])
    min_history_days: int = Field(default=3, ge=1, le=90)
    # digest
    at: str = "09:00"
    timezone: str = "UTC"
    top: int = Field(default=3, ge=1, le=10)

    @model_validator(mode="before")
    @classmethod
    def _keys_of_rule(cls, data: object) -> object:
        if not isinstance(data, Mapping):
            return data
        rule = data.get("rule")
        if rule not in _RULE_KEYS:
            return data  # the Literal says what is expected
        takes = (*_COMMON_KEYS, *_RULE_KEYS[rule])
        for key in data:
            if key in cls.model_fields and key not in takes:
                raise ValueError(
                    f"the {rule} rule takes no key {key!r}; it takes: {', '.join(takes)}"
                )
        named = dict(data)
        named.setdefault("name", rule)
        if rule == "tier_change":
            named.setdefault("tiers", ["advocate", "detractor"])
        return named

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                f"expected a rule name of letters, digits, '-', '_' or '.', got {value!r}"
            )
        return value

    @field_validator("destination")
    @classmethod
    def _destination(cls, value: str | list[str]) -> str | list[str]:
        names = [value] if isinstance(value, str) else value
        if not names or any(not name.strip() for name in names):
            raise ValueError(
                'expected a destination\'s name, such as "support" or "dashboard", '
                'or a list of them, such as ["support", "dashboard"]'
            )
        if len({name.strip() for name in names}) < len(names):
            raise ValueError(f"a destination is listed twice in {value!r}")
        return value.strip() if isinstance(value, str) else [name.strip() for name in value]

    @property
    def targets(self) -> tuple[str, ...]:
        """The names of the destinations this rule's alerts go to, in the order given."""
        return (self.destination,) if isinstance(self.destination, str) else tuple(self.destination)

    @field_validator("at")
    @classmethod
    def _at(cls, value: str) -> str:
        _clock(value, "the digest time")
        return value.strip()

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        return _zone(value)

    @field_validator("windows")
    @classmethod
    def _windows(cls, value: list[int]) -> list[int]:
        if not value or any(hours < 1 or hours > 24 for hours in value):
            raise ValueError("expected window lengths in hours between 1 and 24, e.g. [1, 3, 6]")
        return sorted(set(value))

    @model_validator(mode="after")
    def _tiers(self) -> AlertRuleConfig:
        if self.rule == "tier_change":
            unknown = [t for t in self.tiers if t not in ("advocate", "neutral", "detractor")]
            if unknown or not self.tiers:
                raise ValueError(
                    "tiers of a tier_change rule are advocacy tiers: advocate, neutral, detractor"
                )
        return self

    @property
    def digest_time(self) -> time:
        """The local time of a digest rule."""
        return _clock(self.at, "at")


@dataclass(frozen=True)
class Destination:
    """A destination resolved for delivery: where to post, with which secret."""

    name: str
    webhook_url: SecretStr | None = None
    channel: str | None = None
    token: SecretStr | None = None
    api_url: str = DEFAULT_API_URL
    quiet: QuietHours | None = None
    local: bool = False  # the built-in dashboard destination: kept, never posted

    @property
    def kind(self) -> str:
        """``webhook``, ``channel`` or ``dashboard`` (local)."""
        if self.local:
            return "dashboard"
        return "channel" if self.channel is not None else "webhook"


def resolve_destinations(
    destinations: Mapping[str, DestinationConfig],
    settings: Settings,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Destination]:
    """Each destination with its secret: the webhook URL from its variable, or the bot token.

    The built-in ``dashboard`` destination (local, no secret) is always among them. Raises
    ``ConfigError`` naming the destination and the variable to set when a secret is
    missing. ``environ`` defaults to the process environment.
    """
    env: Mapping[str, Any] = os.environ if environ is None else environ
    resolved = {LOCAL_DESTINATION: Destination(LOCAL_DESTINATION, local=True)}
    for name, config in destinations.items():
        if name == LOCAL_DESTINATION:
            continue  # the watch list refuses such a table; the built-in one stands
        key = f"destinations.{name}"
        if config.channel is not None:
            if settings.slack_bot_token is None:
                raise ConfigError(
                    f"{key} posts to channel {config.channel!r} with a bot token: set "
                    "GOODWILL_SLACK_BOT_TOKEN (xoxb-...)",
                    key=key,
                )
            resolved[name] = Destination(
                name,
                channel=config.channel,
                token=settings.slack_bot_token,
                api_url=config.api_url,
                quiet=config.quiet,
            )
            continue
        variable = config.webhook_env or DEFAULT_WEBHOOK_ENV
        url: str | None
        if variable == DEFAULT_WEBHOOK_ENV:
            secret = settings.slack_webhook_url
            url = secret.get_secret_value() if secret is not None else env.get(variable)
        else:
            url = env.get(variable)
        if not url:
            raise ConfigError(
                f"{key} posts to the Slack incoming webhook in {variable}: set that "
                "environment variable to the webhook's URL",
                key=key,
            )
        if not url.startswith(("https://", "http://")):
            raise ConfigError(f"{variable} (for {key}) is not an http(s) URL", key=key)
        resolved[name] = Destination(
            name, webhook_url=SecretStr(url), api_url=config.api_url, quiet=config.quiet
        )
    return resolved
