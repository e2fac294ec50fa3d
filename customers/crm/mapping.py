"""Which columns of a CRM export hold which profile fields: presets and mapping files.

Columns come from a preset (``hubspot``, ``salesforce``, or ``csv`` for generic names),
detected from the header by ``detect_preset``; a TOML mapping file (``load_mapping``)
names other columns. Headers are compared case-, space-, dot-, dash- and
underscore-insensitively, so the Salesforce report label "Email Opt Out" and API name
``HasOptedOutOfEmail`` both work. ``resolve_columns`` matches a mapping against one
header: columns the mapping needs but the header lacks stop the whole import before
anything is written.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from goodwill.errors import CrmImportError

__all__ = [
    "HANDLE_SOURCES",
    "MAPPING_FIELDS",
    "PRESETS",
    "ColumnMapping",
    "ResolvedColumns",
    "detect_preset",
    "load_mapping",
    "resolve_columns",
]

# Sources whose handles a CRM may hold (one column per source).
HANDLE_SOURCES = (
    "twitter",
    "reddit",
    "mastodon",
    "bluesky",
    "github",
    "youtube",
    "hackernews",
    "stackexchange",
)
# Fields a mapping file may name; ``handles`` and ``extra`` are tables of their own.
MAPPING_FIELDS = (
    "crm_id",
    "email",
    "first_name",
    "last_name",
    "name",
    "value",
    "tier",
    "tags",
    "do_not_contact",
)
_LIST_FIELDS = ("email", "do_not_contact")  # every column present is used, not the first
_KEY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def _norm(column: str) -> str:
    """A header as compared: case-folded, without spaces, dots, dashes or underscores."""
    return re.sub(r"[\s._\-/]", "", column.casefold())


def _generic_handles() -> dict[str, tuple[str, ...]]:
    names: dict[str, tuple[str, ...]] = {}
    for source in HANDLE_SOURCES:
        names[source] = (source, f"{source} handle", f"{source} username", f"{source} user")
    names["twitter"] = (*names["twitter"], "x handle", "x username")
    names["hackernews"] = (*names["hackernews"], "hn", "hacker news")
    return names


@dataclass(frozen=True)
class ColumnMapping:
    """Which CSV columns hold which profile fields (names as in the header, any case).

    ``fields`` maps a name of ``MAPPING_FIELDS`` to candidate columns: the first one
    present is used, except for emails and opt-outs where every present one is.
    ``handles`` maps a source to its candidate columns; ``extra`` maps a ``crm_fields``
    key to candidate columns kept as given. ``strict`` (a mapping file) means every named
    column must be in the file; a preset only needs one column that identifies a person.
    """

    name: str
    fields: Mapping[str, tuple[str, ...]]
    handles: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    strict: bool = False
    preset: str | None = None  # the preset a mapping file builds on, if it names one
    required: tuple[str, ...] = ()  # columns that must be in the file (a mapping file's)

    def overridden_by(self, other: ColumnMapping) -> ColumnMapping:
        """This mapping with every field, handle and extra ``other`` names replaced by other's."""
        return ColumnMapping(
            name=f"{self.name} preset with the {other.name}",
            fields={**self.fields, **other.fields},
            handles={**self.handles, **other.handles},
            extra={**self.extra, **other.extra},
            required=other.required or other.columns(),
        )

    def columns(self) -> tuple[str, ...]:
        """Every column this mapping names."""
        named = [*self.fields.values(), *self.handles.values(), *self.extra.values()]
        return tuple(column for columns in named for column in columns)


# Column names of real exports: HubSpot's contact export uses property labels ("Record ID",
# "First Name", ...); Salesforce report exports use labels ("Contact ID", "Email Opt Out")
# and Data Loader / API exports use API names ("Id", "HasOptedOutOfEmail") — both listed.
PRESETS: dict[str, ColumnMapping] = {
    "hubspot": ColumnMapping(
        name="hubspot",
        fields={
            "crm_id": ("Record ID", "Contact ID", "hs_object_id", "vid"),
            "email": ("Email", "Email Address", "Work email", "Additional email addresses"),
            "first_name": ("First Name", "firstname"),
            "last_name": ("Last Name", "lastname"),
            "value": ("Total Revenue", "total_revenue", "Lifetime Value"),
            "tier": ("Lifecycle Stage", "lifecyclestage"),
            "tags": ("Tags",),
            "do_not_contact": ("Unsubscribed from all email", "hs_email_optout", "Do not contact"),
        },
        handles={**_generic_handles(), "twitter": ("Twitter Username", "twitterhandle")},
        extra={
            "company": ("Company Name", "company"),
            "job_title": ("Job Title", "jobtitle"),
            "lead_status": ("Lead Status", "hs_lead_status"),
            "country": ("Country/Region", "country"),
        },
    ),
    "salesforce": ColumnMapping(
        name="salesforce",
        fields={
            "crm_id": ("Id", "Contact ID", "ContactId", "Contact Id"),
            "email": ("Email",),
            "first_name": ("FirstName", "First Name"),
            "last_name": ("LastName", "Last Name"),
            "name": ("Name", "Full Name", "Contact Name"),
            "value": ("Lifetime Value", "LTV"),
            "tier": ("Tier", "Customer Tier"),
            "tags": ("Tags",),
            "do_not_contact": (
                "HasOptedOutOfEmail",
                "Email Opt Out",
                "DoNotCall",
                "Do Not Call",
            ),
        },
        handles=_generic_handles(),
        extra={
            "company": ("Account Name", "Account.Name"),
            "job_title": ("Title",),
            "lead_source": ("LeadSource", "Lead Source"),
            "country": ("MailingCountry", "Mailing Country"),
        },
    ),
    "csv": ColumnMapping(
        name="csv",
        fields={
            "crm_id": ("crm_id", "Customer ID", "ID"),
            "email": ("Email", "Email Address", "E-mail"),
            "first_name": ("First Name",),
            "last_name": ("Last Name",),
            "name": ("Name", "Full Name"),
            "value": ("Value", "Lifetime Value", "LTV", "Revenue"),
            "tier": ("Tier", "Plan"),
            "tags": ("Tags",),
            "do_not_contact": ("Do Not Contact", "Unsubscribed", "Opted Out"),
        },
        handles=_generic_handles(),
        extra={"company": ("Company",)},
    ),
}

# Headers only one CRM's exports have, to tell them apart (normalised).
_MARKS = {
    "hubspot": frozenset(
        _norm(name)
        for name in (
            "Record ID",
            "Lifecycle Stage",
            "Twitter Username",
            "Unsubscribed from all email",
            "hs_object_id",
            "Lead Status",
            "Create Date",
            "Last Activity Date",
            "Total Revenue",
        )
    ),
    "salesforce": frozenset(
        _norm(name)
        for name in (
            "HasOptedOutOfEmail",
            "Email Opt Out",
            "DoNotCall",
            "AccountId",
            "Account Name",
            "MailingCountry",
            "Mailing Country",
            "LeadSource",
            "OwnerId",
            "CreatedDate",
            "Created Date",
            "Contact ID",
        )
    ),
}


def load_mapping(path: str | Path) -> ColumnMapping:
    """Read a TOML mapping file: which columns hold which fields.

    Top-level keys are ``MAPPING_FIELDS`` (a column name, or a list of them for
    ``email`` and ``do_not_contact``), ``preset`` (the preset it overrides, optional),
    and the tables ``[handles]`` (source = column) and ``[extra]`` (key = column, kept in
    ``crm_fields``). Every column it names must be in the file being imported.

    Raises:
        CrmImportError: the file cannot be read, is not TOML, or has an unknown key or a
            value that is not a column name.
    """
    where = Path(path)
    try:
        data = tomllib.loads(where.read_text(encoding="utf-8"))
    except OSError as error:
        raise CrmImportError(f"Cannot read the mapping file {where}: {error.strerror}.") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise CrmImportError(f"The mapping file {where} is not valid TOML: {error}.") from None
    allowed = (*MAPPING_FIELDS, "preset", "handles", "extra")
    fields: dict[str, tuple[str, ...]] = {}
    handles: dict[str, tuple[str, ...]] = {}
    extra: dict[str, tuple[str, ...]] = {}
    preset: str | None = None
    for key, value in data.items():
        if key not in allowed:
            raise CrmImportError(
                f"{where}: unknown key {key!r}; a mapping has {', '.join(allowed)}."
            )
        if key == "preset":
            if value not in PRESETS:
                raise CrmImportError(
                    f"{where}: preset must be one of {', '.join(PRESETS)}; got {value!r}."
                )
            preset = value
        elif key == "handles":
            for source, column in _table(where, key, value).items():
                if source not in HANDLE_SOURCES:
                    raise CrmImportError(
                        f"{where}: [handles] {source!r} is not a source; use one of {', '.join(HANDLE_SOURCES)}."
                    )
                handles[source] = _columns(where, f"handles.{source}", column)
        elif key == "extra":
            for name, column in _table(where, key, value).items():
                if not _KEY_NAME.match(name):
                    raise CrmImportError(
                        f"{where}: [extra] key {name!r} must be lower-case letters, digits and _."
                    )
                extra[name] = _columns(where, f"extra.{name}", column)
        else:
            columns = _columns(where, key, value)
            if len(columns) > 1 and key not in _LIST_FIELDS:
                raise CrmImportError(
                    f"{where}: {key} takes one column; only {', '.join(_LIST_FIELDS)} take a list."
                )
            fields[key] = columns
    return ColumnMapping(
        name=f"mapping {where.name}",
        fields=fields,
        handles=handles,
        extra=extra,
        strict=True,
        preset=preset,
    )


def _table(where: Path, key: str, value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CrmImportError(f"{where}: {key} must be a table ([{key}]) of name = column.")
    return value


def _columns(where: Path, key: str, value: object) -> tuple[str, ...]:
    names = [value] if isinstance(value, str) else value
    if (
        not isinstance(names, list)
        or not names
        or not all(isinstance(n, str) and n.strip() for n in names)
    ):
        raise CrmImportError(f"{where}: {key} must be a column name (or a list of them).")
    return tuple(names)


def detect_preset(header: Sequence[str]) -> str:
    """``hubspot`` or ``salesforce`` when the header has more of one's own columns, else ``csv``."""
    present = {_norm(name) for name in header}
    scores = {name: len(marks & present) for name, marks in _MARKS.items()}
    best = max(scores, key=lambda name: scores[name])
    ties = [name for name, score in scores.items() if score == scores[best]]
    return best if scores[best] and len(ties) == 1 else "csv"


@dataclass(frozen=True)
class ResolvedColumns:
    """A mapping resolved against one header: column indexes per field."""

    fields: dict[str, list[int]]
    handles: dict[str, list[int]]
    extra: dict[str, int]
    header: list[str]


def resolve_columns(mapping: ColumnMapping, header: list[str]) -> ResolvedColumns:
    """Where ``mapping``'s columns are in ``header``.

    Raises:
        CrmImportError: a column the mapping requires is missing, or no column
            identifies a person (record id, email or handle).
    """
    index: dict[str, int] = {}
    for position, name in enumerate(header):
        index.setdefault(_norm(name), position)

    def pick(candidates: tuple[str, ...], every: bool) -> list[int]:
        found = [index[_norm(c)] for c in candidates if _norm(c) in index]
        return sorted(set(found)) if every else found[:1]

    required = mapping.columns() if mapping.strict else mapping.required
    missing = [column for column in required if _norm(column) not in index]

    fields = {
        name: pick(candidates, name in _LIST_FIELDS) for name, candidates in mapping.fields.items()
    }
    handles = {source: pick(columns, False) for source, columns in mapping.handles.items()}
    extra: dict[str, int] = {}
    for name, columns in mapping.extra.items():
        found = pick(columns, False)
        if found:
            extra[name] = found[0]
    available = ", ".join(repr(name) for name in header) or "none"
    if missing:
        raise CrmImportError(
            f"The file lacks the column(s) {', '.join(repr(m) for m in missing)} named by the "
            f"{mapping.name}; its columns are: {available}. Fix the mapping or the file; nothing was imported."
        )
    identifying = fields.get("crm_id") or fields.get("email") or any(handles.values())
    if not identifying:
        wanted = [
            *mapping.fields.get("crm_id", ()),
            *mapping.fields.get("email", ()),
            *(c for cs in mapping.handles.values() for c in cs[:1]),
        ]
        raise CrmImportError(
            f"The file has no column that identifies a person for the {mapping.name} columns: "
            f"missing a record id, email or handle column (one of {', '.join(repr(w) for w in wanted)}); "
            f"its columns are: {available}. Pass --preset or --mapping FILE.toml naming them; nothing was imported."
        )
    return ResolvedColumns(fields=fields, handles=handles, extra=extra, header=header)
