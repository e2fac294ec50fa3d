"""The watch list: which brands to listen for, with which query, on which sources, how often.

The watch list is a TOML file the user edits (``GOODWILL_WATCHLIST``; see
``config/watchlist.example.toml`` for a commented one)::

    [defaults]
    interval = "15m"                  # polling interval of every source that sets none

    [[brand]]
    name = "Acme"                     # unique (case-insensitively)
    query = '"acme" OR "acme corp"'   # see config.query for the language
    competitors = ["Globex"]          # optional: other [[brand]] names or free names
    strict_lang = false               # optional: true = unknown language fails lang: filters

      [[brand.source]]
      type = "hackernews"             # a source type (see config.sources)
      interval = "10m"                # optional: "90s", "15m", "1h", "1h30m", "1d" or seconds
      base_url = "..."                # any other key is a parameter of that source

Loading it checks everything before anything starts: the TOML syntax, every key's
type, each query's syntax, source types, and each source's parameters and credentials
against the description of its type (``config.sources``); building the sources
(``collector.jobs.build_jobs``, in the processes that collect) then checks the
parameters' values. Credentials are never read from the file: a key that looks like a
secret is refused with the environment variable to use instead, and the collector
passes each source its credentials from ``Settings``. Every error is a
``ConfigError`` whose message names the file, the line, the key path (such as
``brand[1].source[0].interval``) and what is expected.

Nothing here imports a stage: the dashboard and the alerter read the watch list without
loading the collector.
"""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from config.alerting import LOCAL_DESTINATION, AlertRuleConfig, DestinationConfig
from config.query import Query, QuerySyntaxError
from config.settings import Settings, get_settings
from config.sources import CREDENTIALS, SOURCE_TYPES, SourceType
from goodwill.corpus import AIRLINES
from goodwill.errors import ConfigError

__all__ = [
    "DEMO_ALERTS",
    "BrandConfig",
    "DefaultsConfig",
    "Loc",
    "Problem",
    "SourceConfig",
    "WatchList",
    "default_watchlist",
    "key_path",
    "load_watchlist",
    "parse_interval",
    "source_problems",
    "watchlist_from_settings",
]

_ENV_PREFIX = "GOODWILL_"
_EXAMPLE = "config/watchlist.example.toml"
_DEMO_NAME = "the built-in demo watch list"

# --- intervals -----------------------------------------------------------------------

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"(?:\s*\d+(?:\.\d+)?\s*[smhd])+\s*", re.IGNORECASE)
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])", re.IGNORECASE)
_INTERVAL_EXPECTED = 'expected a duration such as "90s", "15m", "1h" or "1h30m" (or seconds)'


def parse_interval(value: object) -> float:
    """Seconds in ``value``: ``"90s"``, ``"15m"``, ``"1h"``, ``"1h30m"``, ``"1d"``, or a number.

    Raises ``ValueError`` (saying what is expected) unless it is at least one second.
    """
    if isinstance(value, bool):
        raise ValueError(f"{_INTERVAL_EXPECTED}, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and _DURATION.fullmatch(value):
        seconds = sum(
            float(number) * _UNITS[unit.lower()] for number, unit in _DURATION_PART.findall(value)
        )
    else:
        raise ValueError(f"{_INTERVAL_EXPECTED}, got {value!r}")
    if not math.isfinite(seconds) or seconds < 1:
        raise ValueError(f"{_INTERVAL_EXPECTED} of at least one second, got {value!r}")
    return seconds


# --- the models ----------------------------------------------------------------------

_STRICT = ConfigDict(extra="forbid", strict=True, frozen=True, arbitrary_types_allowed=True)


class DefaultsConfig(BaseModel):
    """``[defaults]``: what applies to every source that does not say otherwise."""

    model_config = _STRICT

    interval: float = Field(default=900.0, description="polling interval in seconds")

    @field_validator("interval", mode="before")
    @classmethod
    def _interval(cls, value: object) -> float:
        return parse_interval(value)


class SourceConfig(BaseModel):
    """One ``[[brand.source]]``: a source type, its interval, and its parameters."""

    model_config = _STRICT

    type: str = Field(min_length=1)
    interval: float | None = Field(default=None, description="seconds; None: [defaults]")
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _gather_params(cls, data: object) -> object:
        # In the file, a source's parameters sit beside ``type`` and ``interval``; in
        # code (or as an explicit ``params`` table) they may come as ``params``.
        if not isinstance(data, dict) or set(data) - {"type", "interval"} == {"params"}:
            return data
        fixed = {key: data[key] for key in ("type", "interval") if key in data}
        return {**fixed, "params": {k: v for k, v in data.items() if k not in fixed}}

    @field_validator("interval", mode="before")
    @classmethod
    def _interval(cls, value: object) -> float | None:
        return None if value is None else parse_interval(value)


class BrandConfig(BaseModel):
    """One ``[[brand]]``: its name, query, competitors and sources."""

    model_config = _STRICT

    name: str = Field(min_length=1, max_length=200)
    strict_lang: bool = False
    query: Annotated[Query, PlainSerializer(str, return_type=str, when_used="json")]
    competitors: list[str] = Field(default_factory=list)
    sources: list[SourceConfig] = Field(alias="source", min_length=1)

    @field_validator("name", mode="before")
    @classmethod
    def _strip_name(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value

    @field_validator("query", mode="before")
    @classmethod
    def _parse_query(cls, value: object, info: ValidationInfo) -> Query:
        if isinstance(value, Query):
            return value
        if not isinstance(value, str):
            raise ValueError(f"expected the query as a string, got {type(value).__name__}")
        try:
            return Query.parse(value, unknown_lang_passes=not info.data.get("strict_lang", False))
        except QuerySyntaxError as error:
            raise ValueError(f"bad query: {error}") from None

    @field_validator("competitors")
    @classmethod
    def _strip_competitors(cls, value: list[str]) -> list[str]:
        return [name.strip() for name in value]


class WatchList(BaseModel):
    """The whole watch list, validated; ``path`` is the file it came from (None: the demo)."""

    model_config = _STRICT

    defaults: DefaultsConfig = Field(default_factory=DefaultsConfig)
    brands: list[BrandConfig] = Field(alias="brand", min_length=1)
    destinations: dict[str, DestinationConfig] = Field(default_factory=dict)
    alerts: list[AlertRuleConfig] = Field(default_factory=list)

    _path: Path | None = PrivateAttr(default=None)
    _text: str = PrivateAttr(default="")

    @property
    def path(self) -> Path | None:
        """The file the watch list was read from; None for the built-in demo."""
        return self._path

    @property
    def queries(self) -> dict[str, Query]:
        """Each brand's parsed query, by brand name."""
        return {brand.name: brand.query for brand in self.brands}

    def interval_of(self, source: SourceConfig) -> float:
        """The polling interval of ``source`` in seconds (its own, or the default)."""
        return source.interval if source.interval is not None else self.defaults.interval

    def error(self, problems: Iterable[Problem]) -> ConfigError:
        """One ``ConfigError`` naming this watch list's file and each problem's line and key."""
        return _Where(self.path, self._text).error(list(problems))


# --- where things are in the file ----------------------------------------------------

Loc = tuple[str | int, ...]
_BARE_OR_QUOTED = r'(?:[A-Za-z0-9_-]+|"[^"]*"|\'[^\']*\')'
_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\[\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(rf"^\s*({_BARE_OR_QUOTED}(?:\s*\.\s*{_BARE_OR_QUOTED})*)\s*=")


def _dotted(text: str) -> list[str]:
    return [part.strip().strip("\"'") for part in re.findall(_BARE_OR_QUOTED, text)]


def _key_lines(text: str) -> dict[Loc, int]:
    """Best effort: the line (1-based) of each table header and key, by its key path."""
    found: dict[Loc, int] = {}
    arrays: dict[Loc, int] = {}  # path of an array of tables -> index of its latest table
    table: Loc = ()
    open_string: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if open_string is not None:  # inside a multi-line string: nothing here is a key
            if line.count(open_string) % 2 == 1:
                open_string = None
            continue
        header = _HEADER.match(line)
        if header:
            names = _dotted(header.group(2))
            path: Loc = ()
            for index, name in enumerate(names):
                path = (*path, name)
                if index == len(names) - 1 and header.group(1) == "[[":
                    found.setdefault(path, number)  # the array as a whole: its first table
                    arrays[path] = arrays.get(path, -1) + 1
                    path = (*path, arrays[path])
                elif path in arrays:
                    path = (*path, arrays[path])
            table = path
            found.setdefault(table, number)
            continue
        key = _KEY.match(line)
        if key:
            found.setdefault((*table, *_dotted(key.group(1))), number)
            rest = line[key.end() :]
            for delimiter in ('"""', "'''"):
                if rest.count(delimiter) == 1:
                    open_string = delimiter
    return found


@dataclass(frozen=True)
class Problem:
    """One mistake in a watch list: where (a key path, see ``key_path``) and what is expected."""

    loc: Loc
    message: str


class _Where:
    """Names a watch list file and finds lines in it, for error messages."""

    def __init__(self, path: Path | None, text: str) -> None:
        self.name = str(path) if path is not None else _DEMO_NAME
        self.lines = _key_lines(text)

    def line_of(self, loc: Loc) -> int | None:
        for length in range(len(loc), 0, -1):
            if loc[:length] in self.lines:
                return self.lines[loc[:length]]
        return None

    def error(self, problems: list[Problem]) -> ConfigError:
        described = []
        for problem in problems:
            line = self.line_of(problem.loc)
            at = f"line {line}: " if line is not None else ""
            key = f"{key_path(problem.loc)}: " if problem.loc else ""
            described.append(f"{at}{key}{problem.message}")
        first = problems[0].loc
        if len(described) == 1:
            message = f"{self.name}, {described[0]}"
        else:
            message = f"{self.name} has {len(described)} problems:\n  " + "\n  ".join(described)
        return ConfigError(message, key=key_path(first) if first else None)


def key_path(loc: Loc) -> str:
    """``("brand", 1, "source", 0, "interval")`` -> ``brand[1].source[0].interval``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


# --- secrets -------------------------------------------------------------------------

_SECRET_KEY = re.compile(
    r"(?:^|[_-])(?:token|password|passwd|secret|api[_-]?key|apikey|access[_-]key|private[_-]key)"
    r"(?:$|[_-])|^key$",
    re.IGNORECASE,
)
_URL_WITH_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@\s:]+:[^/@\s]+@", re.IGNORECASE)
# A Slack webhook URL is its own credential: whoever has it can post to the channel.
_WEBHOOK_KEY = re.compile(r"^webhook(?:[_-]?url)?$", re.IGNORECASE)
_SLACK_WEBHOOK = re.compile(r"^https?://hooks\.slack(?:-gov)?\.com/", re.IGNORECASE)


def _env_var(field: str) -> str:
    return _ENV_PREFIX + field.upper()


def _secret_problems(
    data: Mapping[str, Any], loc: Loc = (), kind: str | None = None
) -> list[Problem]:
    """Keys of ``data`` (at any depth) that hold credentials, which belong in the environment."""
    problems = []
    credentials = CREDENTIALS.get(kind or "", {})
    for key, value in data.items():
        here = (*loc, key)
        if _WEBHOOK_KEY.match(key) or (isinstance(value, str) and _SLACK_WEBHOOK.match(value)):
            problems.append(
                Problem(
                    here,
                    "a Slack webhook URL is a secret and does not belong in the watch list: put it "
                    "in an environment variable and name that variable with webhook_env = "
                    '"GOODWILL_SLACK_WEBHOOK_..." (default GOODWILL_SLACK_WEBHOOK_URL)',
                )
            )
        elif key in credentials or _SECRET_KEY.search(key):
            field = credentials.get(key) or (f"{kind}_{key}" if kind else key)
            if field in Settings.model_fields:
                where = f"set the environment variable {_env_var(field)} instead"
            elif kind:
                known = ", ".join(_env_var(name) for name in credentials.values())
                where = (
                    f"the {kind} source reads its credentials from {known}"
                    if known
                    else f"the {kind} source takes no credentials"
                )
            else:
                where = "Goodwill reads credentials only from GOODWILL_* environment variables"
            problems.append(
                Problem(
                    here,
                    "credentials do not belong in the watch list (a plain file, often shared); "
                    f"remove this key: {where}",
                )
            )
        elif isinstance(value, str) and _URL_WITH_PASSWORD.match(value):
            problems.append(
                Problem(here, "this URL holds a password: remove it from the watch list")
            )
        elif isinstance(value, Mapping):
            problems.extend(_secret_problems(value, here, kind))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, Mapping):
                    inner = item.get("type") if key == "source" else kind
                    problems.extend(
                        _secret_problems(
                            item, (*here, index), inner if isinstance(inner, str) else kind
                        )
                    )
    return problems


# --- validation errors ---------------------------------------------------------------

_ALLOWED = {
    "top": ("defaults", "brand", "destinations", "alerts"),
    "alerts": tuple(AlertRuleConfig.model_fields),
    "destinations": tuple(DestinationConfig.model_fields),
    "defaults": tuple(DefaultsConfig.model_fields),
    "brand": ("name", "query", "competitors", "strict_lang", "source"),
}
_MISSING = {
    "brand": f"the watch list needs at least one [[brand]] table (see {_EXAMPLE})",
    "name": 'every brand needs a name, e.g. name = "Acme"',
    "query": """every brand needs a query, e.g. query = '"acme" OR "acme corp"'""",
    "source": "every brand needs at least one [[brand.source]] table",
    "type": 'every source needs a type, e.g. type = "hackernews"',
    "rule": "every [[alerts]] table needs a rule: complaint, negative_spike, tier_change, digest or emerging_theme",
    "destination": 'every alert rule needs a destination, e.g. destination = "dashboard" '
    '(built in: shown on the dashboard) or "support" (a [destinations.support] table)',
}
_TYPE_NAMES = {
    "string_type": "a string (in quotes)",
    "bool_type": "true or false",
    "list_type": "an array, e.g. [...]",
    "dict_type": "a table",
    "model_type": "a table",
    "float_type": "a number",
}


def _describe(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    loc = error["loc"]
    last = next((part for part in reversed(loc) if isinstance(part, str)), "")
    given = error.get("input")
    if isinstance(given, str | int | float | bool):
        got = f" (got {given!r})"
    else:
        got = f" (got {type(given).__name__})" if given is not None else ""
    if kind == "missing":
        return _MISSING.get(last, "this key is required")
    if kind == "extra_forbidden":
        allowed = _ALLOWED.get("top" if len(loc) == 1 else str(loc[0]), ())
        close = difflib.get_close_matches(str(last), allowed, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"unknown key {last!r}; {hint}expected one of: {', '.join(allowed)}"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    if kind in _TYPE_NAMES:
        return f"expected {_TYPE_NAMES[kind]}{got}"
    if kind == "too_short" and last in ("brand", "source"):
        return _MISSING[last]
    if kind == "too_short" and last == "name":
        return "the brand's name must not be empty"
    return f"{error['msg']}{got}"


def _validation_problems(error: ValidationError) -> list[Problem]:
    return [Problem(tuple(item["loc"]), _describe(item)) for item in error.errors()]


def _meaning_problems(watchlist: WatchList) -> list[Problem]:
    """What types alone cannot check: unique names, sensible competitors."""
    problems = []
    seen: dict[str, int] = {}
    for index, brand in enumerate(watchlist.brands):
        folded = brand.name.casefold()
        if folded in seen:
            problems.append(
                Problem(
                    ("brand", index, "name"),
                    f"duplicate brand name {brand.name!r} (also brand[{seen[folded]}]); "
                    "each brand needs its own name",
                )
            )
        seen.setdefault(folded, index)
        named: set[str] = set()
        for position, competitor in enumerate(brand.competitors):
            here = ("brand", index, "competitors", position)
            if not competitor:
                problems.append(Problem(here, "expected a competitor's name, got an empty string"))
            elif competitor.casefold() == folded:
                problems.append(Problem(here, f"{brand.name!r} cannot be its own competitor"))
            elif competitor.casefold() in named:
                problems.append(Problem(here, f"{competitor!r} is listed twice"))
            named.add(competitor.casefold())
    problems.extend(_alert_problems(watchlist, seen))
    return problems


def _alert_problems(watchlist: WatchList, brands: Mapping[str, int]) -> list[Problem]:
    """Alert rules: unique names, known destinations, known brands."""
    problems = []
    if LOCAL_DESTINATION in watchlist.destinations:
        problems.append(
            Problem(
                ("destinations", LOCAL_DESTINATION),
                f"{LOCAL_DESTINATION!r} is the built-in destination (alerts shown on the "
                "dashboard) and takes no table; give a Slack destination another name",
            )
        )
    names: dict[str, int] = {}
    known = sorted({*watchlist.destinations, LOCAL_DESTINATION})
    for index, rule in enumerate(watchlist.alerts):
        if rule.name in names:
            problems.append(
                Problem(
                    ("alerts", index, "name"),
                    f"two alert rules are named {rule.name!r} (also alerts[{names[rule.name]}]); "
                    'give each its own name = "..."',
                )
            )
        names.setdefault(rule.name, index)
        for target in rule.targets:
            if target in known:
                continue
            close = difflib.get_close_matches(target, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            problems.append(
                Problem(
                    ("alerts", index, "destination"),
                    f"no [destinations.{target}] table; {hint}defined: {', '.join(known)}",
                )
            )
        for position, brand in enumerate(rule.brands):
            if brand.casefold() not in brands:
                problems.append(
                    Problem(
                        ("alerts", index, "brands", position),
                        f"{brand!r} is not a [[brand]] of this watch list",
                    )
                )
    return problems


# --- sources -------------------------------------------------------------------------


def source_problems(
    entry: SourceConfig, sources: Mapping[str, SourceType], settings: Settings, loc: Loc
) -> list[Problem]:
    """What is wrong with one ``[[brand.source]]`` at ``loc``, judged by its type's description.

    An unknown type (listing ``sources``), a parameter the type does not take (with the
    closest one), a required parameter left out, a credential not set in ``settings``.
    """
    kind = sources.get(entry.type)
    if kind is None:
        known = ", ".join(sorted(sources)) or "(none registered)"
        return [
            Problem((*loc, "type"), f"unknown source type {entry.type!r}; expected one of: {known}")
        ]
    problems = []
    takes = list(kind.options)
    for name in entry.params:
        if not kind.takes(name):
            close = difflib.get_close_matches(name, [*takes, "interval"], n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            offered = ", ".join(["interval", *takes])
            problems.append(
                Problem(
                    (*loc, name),
                    f"the {entry.type} source takes no parameter {name!r}; {hint}it takes: {offered}",
                )
            )
    present = set(entry.params) | set(kind.credentials_from(settings))
    unset: list[str] = []
    for parameter in kind.parameters:
        if not parameter.required or parameter.name in present:
            continue
        field = kind.credentials.get(parameter.name)
        if field is not None:
            unset.append(_env_var(field))
        else:
            problems.append(
                Problem(loc, f"the {entry.type} source needs the parameter {parameter.name!r}")
            )
    if unset:
        problems.append(
            Problem(loc, f"the {entry.type} source needs credentials: set {' and '.join(unset)}")
        )
    return problems


def _sources_problems(
    watchlist: WatchList, sources: Mapping[str, SourceType], settings: Settings
) -> list[Problem]:
    """Every source entry's problems, and a second entry of one type for one brand."""
    problems = []
    for b, brand in enumerate(watchlist.brands):
        owners: dict[str, Loc] = {}
        for s, entry in enumerate(brand.sources):
            loc: Loc = ("brand", b, "source", s)
            found = source_problems(entry, sources, settings, loc)
            if found:
                problems.extend(found)
            elif entry.type in owners:
                # One job runs per brand and source type (its id is ``type:brand``).
                problems.append(
                    Problem(
                        loc,
                        f"{brand.name!r} already has a {entry.type} source "
                        f"({key_path(owners[entry.type])}); one job runs per brand and source, "
                        "so merge the two entries into one",
                    )
                )
            else:
                owners[entry.type] = loc
    return problems


# --- loading -------------------------------------------------------------------------

_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


def load_watchlist(
    path: Path | str,
    *,
    settings: Settings | None = None,
    sources: Mapping[str, SourceType] | None = None,
) -> WatchList:
    """Read and validate the watch list at ``path``, checking each source against its type.

    ``sources`` (the source types it may name) defaults to ``SOURCE_TYPES``, ``settings``
    (where credentials are looked for) to ``get_settings()``. Raises ``ConfigError``
    naming the file, line, key and what is expected.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: the watch list file does not exist; point GOODWILL_WATCHLIST at a watch "
            f"list (copy {_EXAMPLE}) or unset it for the built-in demo",
            key="GOODWILL_WATCHLIST",
        ) from None
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{path}: the watch list is not UTF-8 text ({error.reason} at byte {error.start})",
            key="GOODWILL_WATCHLIST",
        ) from None
    except OSError as error:
        raise ConfigError(
            f"{path}: cannot read the watch list: {error.strerror}", key="GOODWILL_WATCHLIST"
        ) from None
    where = _Where(path, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        reason = str(error)
        position = _TOML_POSITION.search(reason)
        if position is None:
            raise ConfigError(f"{path}: not valid TOML: {reason}") from None
        line, column = int(position.group(1)), int(position.group(2))
        lines = text.splitlines()
        shown = lines[line - 1].strip() if 0 < line <= len(lines) else ""
        raise ConfigError(
            f"{path}, line {line}, column {column}: not valid TOML: "
            f"{reason[: position.start()]}" + (f" in: {shown}" if shown else "")
        ) from None
    watchlist = _validate(data, where)
    watchlist._path = path
    watchlist._text = text
    settings = get_settings() if settings is None else settings
    problems = _sources_problems(watchlist, SOURCE_TYPES if sources is None else sources, settings)
    if problems:
        raise where.error(problems)
    return watchlist


def _validate(data: Mapping[str, Any], where: _Where) -> WatchList:
    secrets = _secret_problems(data)
    if secrets:
        raise where.error(secrets)
    try:
        watchlist = WatchList.model_validate(data)
    except ValidationError as error:
        raise where.error(_validation_problems(error)) from None
    problems = _meaning_problems(watchlist)
    if problems:
        raise where.error(problems)
    return watchlist


# The demo's alert rules (complaints, negative spikes, emerging complaint themes), all to
# the built-in dashboard destination. The demo has no CRM data, so every fresh complaint
# is alert-worthy; the replay back-fills two weeks of tweets at its first run, and those
# old posts raise no complaint alert (max_age_hours).
DEMO_ALERTS: tuple[Mapping[str, Any], ...] = (
    {"rule": "complaint", "name": "complaints", "destination": LOCAL_DESTINATION,
     "max_age_hours": 2},
    {"rule": "negative_spike", "name": "negative-spikes", "destination": LOCAL_DESTINATION},
    {"rule": "emerging_theme", "name": "emerging-themes", "destination": LOCAL_DESTINATION},
)  # fmt: skip


def default_watchlist(settings: Settings | None = None) -> WatchList:
    """The built-in demo: the six airlines of the bundled corpus, each on the replay source.

    Each airline's query looks for its Twitter handle or its name; each lists the other
    five as competitors; the replay source runs every ``settings.replay_interval_seconds``.
    Its alert rules (``DEMO_ALERTS``) go to the built-in ``dashboard`` destination, so a
    fresh install shows alerts on the dashboard with no Slack.
    """
    settings = settings or get_settings()
    names = list(AIRLINES.values())
    data = {
        "brand": [
            {
                "name": name,
                "query": f'"@{handle}" OR "{name}"',
                "competitors": [other for other in names if other != name],
                "source": [{"type": "replay", "interval": settings.replay_interval_seconds}],
            }
            for handle, name in AIRLINES.items()
        ],
        "alerts": [dict(rule) for rule in DEMO_ALERTS],
    }
    return _validate(data, _Where(None, ""))


def watchlist_from_settings(
    settings: Settings, sources: Mapping[str, SourceType] | None = None
) -> WatchList:
    """The watch list at ``settings.watchlist``, or the built-in demo when that is unset.

    ``sources``: the source types it may name (default ``SOURCE_TYPES``).
    """
    if settings.watchlist is None:
        return default_watchlist(settings)
    return load_watchlist(settings.watchlist, settings=settings, sources=sources)
