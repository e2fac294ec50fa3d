"""Import customers from a CRM export (CSV) into profiles: who they are, what they are worth.

``goodwill profiles import customers.csv`` reads a HubSpot or Salesforce contact export,
or any CSV with a mapping file, and links each row to the profile of the same person:

* **Matching**, in this order: the CRM record id (``profiles.crm_id``), then an email
  (``profiles.emails``), then a social handle (``profiles.identities.handle_key``). The
  row is applied to the first profile found. When it also matches a *different* profile,
  the two are never merged silently: a ``merge_proposals`` document says why they may be
  one person, and a person decides. A row that matches nothing creates a profile
  (``origin: "crm"``) holding its emails and handles.
* **Columns** come from a preset (``hubspot``, ``salesforce``, or ``csv`` for generic
  names), detected from the header by ``auto``; a TOML mapping file names other columns.
  Headers are compared case-, space-, dot-, dash- and underscore-insensitively, so the
  Salesforce report label "Email Opt Out" and API name ``HasOptedOutOfEmail`` both work.
* **Bad rows are rejected, not guessed at**, each with its row number (the header is row
  1, as a spreadsheet shows it) and reason: an invalid email, a value that is not a
  number, bytes that are not valid in the file's encoding, an over-long field, a row with
  no id, email or handle. A row for the same person as an earlier row of the file (same
  record id, or a shared email or handle where one of them has no record id) is counted
  as a duplicate of that row and not applied twice. Columns the preset or mapping needs
  but the header lacks stop the whole import before anything is written.
* **Consent**: any opt-out column that says yes sets ``do_not_contact``. An import never
  lifts it: giving consent back is a person's decision, not a side effect of a file.

What "nothing half-written" means here, honestly: MongoDB (and the embedded server)
gives no multi-document transactions we can rely on, so an import is *not* atomic. It
runs in batches of 1,000 rows; each batch first reads the profiles its rows may match,
computes every write in memory, then applies them in one unordered bulk write made only
of idempotent operations (insert of a new profile, ``$set`` of fields to their final
values, ``$addToSet`` of emails, tags and identities). A crash can therefore leave the
batches before it written and the batch it was in partly written; running the same
import again re-reads what is there, creates nothing twice (created profiles are found
again by their record id, email or handle) and converges on the same result. Importing
the same file twice reports every row "unchanged" and writes nothing — not even
``updated_at``.

Memory stays constant whatever the file size: the file is read as a stream, one batch
at a time, and the keys seen so far (for duplicate detection) live in a temporary
SQLite file on disk, not in memory.
"""

from __future__ import annotations

import codecs
import contextlib
import copy
import csv
import io
import re
import sqlite3
import sys
import tempfile
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from pymongo import InsertOne, UpdateOne
from tqdm import tqdm  # type: ignore[import-untyped]  # tqdm ships no type hints

from goodwill.errors import CrmImportError
from goodwill.identity import erasure_hash, handle_key, new_profile_id
from goodwill.models import utcnow
from store import Database

__all__ = [
    "BATCH_SIZE",
    "HANDLE_SOURCES",
    "MAPPING_FIELDS",
    "PRESETS",
    "ColumnMapping",
    "CrmImportError",
    "ImportReport",
    "RowProblem",
    "detect_preset",
    "import_csv",
    "load_mapping",
]

Document = dict[str, Any]

BATCH_SIZE = 1000
# The most characters kept of one field; a longer one rejects its row (a name is not 1 kB).
MAX_FIELD = 1000
# The most rejected or duplicate rows listed one by one in a report (all are counted).
MAX_LISTED = 1000

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
_TRUE = frozenset({"true", "yes", "y", "1", "x", "t", "on", "checked", "opted out"})
_FALSE = frozenset({"false", "no", "n", "0", "f", "off", "unchecked", ""})
_EMAIL = re.compile(r"^[^@\s,;<>\"]+@[^@\s,;<>\"]+\.[^@\s,;<>\"]+$")
_SURROGATE = re.compile("[\udc80-\udcff]")
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


@dataclass(frozen=True)
class RowProblem:
    """A row not applied: its number (header = row 1) and why."""

    row: int
    reason: str


@dataclass
class ImportReport:
    """What an import did (or, with ``dry_run``, would do).

    ``merged`` rows matched a profile and changed it; ``unchanged`` rows matched one that
    already said everything they say. ``rejected`` and ``duplicates`` list at most
    ``MAX_LISTED`` rows each; ``rejected_count`` and ``duplicate_count`` count them all.
    """

    file: str
    preset: str
    system: str
    dry_run: bool = False
    rows: int = 0
    created: int = 0
    merged: int = 0
    unchanged: int = 0
    proposals: int = 0
    rejected_count: int = 0
    duplicate_count: int = 0
    rejected: list[RowProblem] = field(default_factory=list)
    duplicates: list[RowProblem] = field(default_factory=list)

    def reject(self, row: int, reason: str) -> None:
        """Count a rejected row (and list it while fewer than ``MAX_LISTED`` are)."""
        self.rejected_count += 1
        if len(self.rejected) < MAX_LISTED:
            self.rejected.append(RowProblem(row, reason))

    def duplicate(self, row: int, reason: str) -> None:
        """Count a duplicate row (and list it while fewer than ``MAX_LISTED`` are)."""
        self.duplicate_count += 1
        if len(self.duplicates) < MAX_LISTED:
            self.duplicates.append(RowProblem(row, reason))

    def summary(self, *, listed: int = 20) -> str:
        """The report as lines for a person: counts, then the first ``listed`` problems."""
        verb = "would be" if self.dry_run else ""
        lines = [
            f"{'Dry run: ' if self.dry_run else ''}{self.file} ({self.preset} columns, system {self.system}): "
            f"{self.rows} rows",
            f"  created:    {self.created}",
            f"  merged:     {self.merged}   (matched a profile and updated it)",
            f"  unchanged:  {self.unchanged}",
            f"  duplicates: {self.duplicate_count}",
            f"  rejected:   {self.rejected_count}",
            f"  merge proposals {verb or 'recorded'}: {self.proposals}",
        ]
        for title, problems, total in (
            ("Rejected", self.rejected, self.rejected_count),
            ("Duplicates", self.duplicates, self.duplicate_count),
        ):
            if not total:
                continue
            lines.append(f"{title}:")
            lines.extend(f"  row {p.row}: {p.reason}" for p in problems[:listed])
            if total > listed:
                lines.append(f"  ... and {total - listed} more")
        return "\n".join(lines)


# -- mapping -------------------------------------------------------------------------------


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
class _Columns:
    """A mapping resolved against one header: column indexes per field."""

    fields: dict[str, list[int]]
    handles: dict[str, list[int]]
    extra: dict[str, int]
    header: list[str]


def _resolve(mapping: ColumnMapping, header: list[str]) -> _Columns:
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
    return _Columns(fields=fields, handles=handles, extra=extra, header=header)


# -- rows ------------------------------------------------------------------------------------


@dataclass
class _Row:
    number: int
    crm_id: str | None
    emails: list[str]
    handles: list[tuple[str, str, str]]  # (source, handle, handle_key)
    display_name: str | None
    crm_fields: dict[str, str]
    value: float | None
    tier: str | None
    tags: list[str]
    do_not_contact: bool


def _cell(cells: list[str], position: int) -> str:
    return cells[position].strip() if position < len(cells) else ""


def _handle(source: str, text: str) -> str:
    """A handle as a CRM holds it: ``@bob``, ``bob`` or a profile URL, reduced to the handle."""
    value = text.strip()
    if source == "reddit":
        value = re.sub(r"^/?u/", "", value)
    if value.lower().startswith(("http://", "https://")):
        host, _, path = value.split("//", 1)[1].partition("/")
        parts = [p for p in path.split("/") if p and p not in ("u", "user", "users", "@")]
        last = parts[-1] if parts else ""
        if source == "mastodon" and last.startswith("@"):
            return f"{last.lstrip('@')}@{host}"
        return last.lstrip("@")
    return value.lstrip("@")


def _number(text: str) -> float:
    cleaned = re.sub(r"[\s$€£¥]", "", text).replace(",", "")
    return float(cleaned)


def _parse_row(
    number: int, cells: list[str], columns: _Columns, encoding: str
) -> _Row | RowProblem:
    used = [
        *(p for ps in columns.fields.values() for p in ps),
        *(p for ps in columns.handles.values() for p in ps),
        *columns.extra.values(),
    ]
    for position in used:
        text = _cell(cells, position)
        name = columns.header[position]
        if _SURROGATE.search(text):
            hint = "cp1252" if encoding.replace("-", "").lower() in ("utf8", "utf8sig") else "utf-8"
            return RowProblem(
                number,
                f"column {name!r} has bytes that are not valid {encoding}; "
                f"if the file comes from Excel on Windows, try --encoding {hint}",
            )
        if len(text) > MAX_FIELD:
            return RowProblem(
                number,
                f"column {name!r} is {len(text)} characters long; at most {MAX_FIELD} are kept",
            )

    def first(name: str) -> str:
        positions = columns.fields.get(name) or []
        return _cell(cells, positions[0]) if positions else ""

    emails: list[str] = []
    for position in columns.fields.get("email") or []:
        for part in re.split(r"[;,\s]+", _cell(cells, position)):
            if not part:
                continue
            if len(part) > 254 or not _EMAIL.match(part):
                return RowProblem(
                    number, f"{part!r} in column {columns.header[position]!r} is not an email"
                )
            if part.lower() not in emails:
                emails.append(part.lower())
    value: float | None = None
    if raw_value := first("value"):
        try:
            value = _number(raw_value)
        except ValueError:
            column = columns.header[columns.fields["value"][0]]
            return RowProblem(number, f"value {raw_value!r} in column {column!r} is not a number")
    do_not_contact = False
    for position in columns.fields.get("do_not_contact") or []:
        flag = _cell(cells, position).casefold()
        if flag in _TRUE:
            do_not_contact = True
        elif flag not in _FALSE:
            return RowProblem(
                number,
                f"{flag!r} in column {columns.header[position]!r} is not yes/no (true/false, 1/0)",
            )
    handles: list[tuple[str, str, str]] = []
    for source, positions in columns.handles.items():
        for position in positions:
            handle = _handle(source, _cell(cells, position))
            if handle:
                key = handle_key(source, handle)
                if all(key != h[2] for h in handles):
                    handles.append((source, handle, key))
    crm_id = first("crm_id") or None
    if crm_id is None and not emails and not handles:
        return RowProblem(number, "no record id, email or handle: nothing says who this is")
    first_name, last_name = first("first_name"), first("last_name")
    crm_fields = {
        name: text for name, text in (("first_name", first_name), ("last_name", last_name)) if text
    }
    crm_fields.update(
        {name: text for name, p in columns.extra.items() if (text := _cell(cells, p))}
    )
    display_name = first("name") or " ".join(p for p in (first_name, last_name) if p) or None
    tags = [t.strip() for t in re.split(r"[;,]", first("tags")) if t.strip()]
    return _Row(
        number=number,
        crm_id=crm_id,
        emails=emails,
        handles=handles,
        display_name=display_name,
        crm_fields=crm_fields,
        value=value,
        tier=first("tier") or None,
        tags=list(dict.fromkeys(tags)),
        do_not_contact=do_not_contact,
    )


class _Seen:
    """Keys of rows already applied in this file, on disk: constant memory for any file size."""

    def __init__(self, directory: str) -> None:
        self._db = sqlite3.connect(Path(directory) / "seen.sqlite3")
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE seen (key TEXT PRIMARY KEY, row INTEGER, has_crm INTEGER)")

    def close(self) -> None:
        self._db.close()

    def duplicate_of(self, row: _Row) -> str | None:
        """Why ``row`` repeats an earlier row of the file, or ``None``; records its keys if new."""
        keys = [f"email:{e}" for e in row.emails] + [f"handle:{h[2]}" for h in row.handles]
        if row.crm_id is not None:
            found = self._db.execute(
                "SELECT row FROM seen WHERE key = ?", (f"crm:{row.crm_id}",)
            ).fetchone()
            if found:
                return f"duplicate of row {found[0]} (same record id {row.crm_id!r})"
        for key in keys:
            found = self._db.execute(
                "SELECT row, has_crm FROM seen WHERE key = ?", (key,)
            ).fetchone()
            # Two records with different ids may share an email; one without an id may not.
            if found and not (found[1] and row.crm_id is not None):
                kind, _, what = key.partition(":")
                return f"duplicate of row {found[0]} (same {kind} {what})"
        if row.crm_id is not None:
            keys.append(f"crm:{row.crm_id}")
        self._db.executemany(
            "INSERT OR IGNORE INTO seen VALUES (?, ?, ?)",
            [(key, row.number, int(row.crm_id is not None)) for key in keys],
        )
        return None


# -- import ----------------------------------------------------------------------------------


async def import_csv(
    store: Database,
    path: str | Path,
    *,
    preset: str = "auto",
    mapping: str | Path | None = None,
    encoding: str = "utf-8",
    system: str | None = None,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
    progress: bool = False,
) -> ImportReport:
    """Import a CRM export into profiles; see the module docstring for what it does.

    Args:
        store: the open store.
        path: the CSV file (read as a stream; any size).
        preset: ``hubspot``, ``salesforce``, ``csv`` or ``auto`` (detected from the header).
        mapping: a TOML mapping file overriding the preset's columns.
        encoding: the file's text encoding (Excel on Windows writes ``cp1252``).
        system: recorded as ``crm_system``; by default the preset's name.
        dry_run: compute and report, write nothing. A row that only matches a profile an
            earlier *batch* of the same dry run would create is counted as created.
        batch_size: rows per bulk write.
        progress: show a progress bar (bytes read) on stderr.

    Raises:
        CrmImportError: the file, its encoding, its header or the mapping cannot be used;
            raised before anything is written.
        StoreError: the database failed; batches before it are written, and running the
            import again completes it.
    """
    where = Path(path)
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise CrmImportError(
            f"{encoding!r} is not an encoding Python knows; try utf-8, cp1252 or latin-1."
        ) from None
    if preset != "auto" and preset not in PRESETS:
        raise CrmImportError(f"Preset must be auto or one of {', '.join(PRESETS)}; got {preset!r}.")
    override = load_mapping(mapping) if mapping is not None else None
    raw, size = _open(where)
    with contextlib.ExitStack() as stack:
        stack.enter_context(raw)
        # Undecodable bytes become lone surrogates, so one bad row is rejected, not the file.
        text = io.TextIOWrapper(raw, encoding=encoding, errors="surrogateescape", newline="")
        stack.callback(text.detach)
        reader = csv.reader(text)
        try:
            header = next(reader)
        except StopIteration:
            raise CrmImportError(f"{where} is empty: expected a header row.") from None
        except csv.Error as error:
            raise CrmImportError(f"{where}: the header row is not CSV ({error}).") from None
        if header:
            header[0] = header[0].lstrip("\ufeff")
        if any(_SURROGATE.search(name) for name in header):
            raise CrmImportError(
                f"The header of {where} is not valid {encoding}; try --encoding cp1252 "
                "(Excel on Windows) or --encoding utf-8."
            )
        chosen = detect_preset(header) if preset == "auto" else preset
        if override is not None and override.preset is not None and preset == "auto":
            chosen = override.preset
        columns_mapping = PRESETS[chosen]
        if override is not None:
            columns_mapping = columns_mapping.overridden_by(override)
        columns = _resolve(columns_mapping, header)
        report = ImportReport(
            file=where.name, preset=chosen, system=system or chosen, dry_run=dry_run
        )
        bar = stack.enter_context(
            tqdm(
                total=size,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=f"import {where.name}",
                file=sys.stderr,
                disable=not progress,
            )
        )
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="goodwill-import-"))
        seen = _Seen(tmp)
        stack.callback(seen.close)
        batch: list[_Row] = []
        for number, cells in _records(reader):
            report.rows += 1
            if isinstance(cells, RowProblem):
                report.reject(number, cells.reason)
                continue
            parsed = _parse_row(number, cells, columns, encoding)
            if isinstance(parsed, RowProblem):
                report.reject(parsed.row, parsed.reason)
                continue
            why = seen.duplicate_of(parsed)
            if why is not None:
                report.duplicate(number, why)
                continue
            batch.append(parsed)
            if len(batch) >= batch_size:
                await _apply(store, batch, report, dry_run)
                batch = []
                bar.update(raw.tell() - bar.n)
        if batch:
            await _apply(store, batch, report, dry_run)
        bar.update(size - bar.n)
    return report


def _open(where: Path) -> tuple[BinaryIO, int]:
    """The file opened for reading, and its size in bytes.

    Reads of a local file are not awaited: the import is a command-line batch job, and
    each read is one buffer, so the event loop is never held for long.
    """
    try:
        return where.open("rb"), where.stat().st_size
    except OSError as error:
        raise CrmImportError(f"Cannot read {where}: {error.strerror}.") from None


def _records(reader: Any) -> Iterator[tuple[int, list[str] | RowProblem]]:
    """(row number, cells) of each data row; a row the CSV parser refuses becomes a problem."""
    number = 1
    while True:
        number += 1
        try:
            cells: list[str] = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield number, RowProblem(number, f"not readable as CSV ({error}; an unclosed quote?)")
            continue
        if not any(cell.strip() for cell in cells):
            continue  # a blank line: nothing to import, though it keeps its row number
        yield number, cells


# -- one batch -------------------------------------------------------------------------------


def _state(doc: Document) -> tuple[Any, ...]:
    """What a row can change of a profile, comparable before and after."""
    return (
        doc.get("display_name"),
        doc.get("crm_id"),
        doc.get("crm_system"),
        tuple(sorted((doc.get("crm_fields") or {}).items())),
        doc.get("value"),
        doc.get("tier"),
        tuple(sorted(doc.get("tags") or [])),
        tuple(sorted(doc.get("emails") or [])),
        tuple(sorted(str(i.get("key")) for i in doc.get("identities") or [])),
        bool(doc.get("do_not_contact")),
    )


def _new_profile(row: _Row, system: str, now: datetime) -> Document:
    return {
        "_id": new_profile_id(),
        "display_name": None,
        "identities": [],
        "emails": [],
        "crm_id": None,
        "crm_system": system,
        "crm_fields": {},
        "value": None,
        "tier": None,
        "tags": [],
        "do_not_contact": False,
        "reach": 0,
        "counts": {
            "mentions": 0,
            "scored": 0,
            "positive": 0,
            "neutral": 0,
            "negative": 0,
            "complaints": 0,
        },
        "first_seen": None,
        "last_seen": None,
        "origin": "crm",
        "created_at": now,
        "updated_at": now,
    }


async def _apply(store: Database, rows: list[_Row], report: ImportReport, dry_run: bool) -> None:
    """Match a batch of rows, compute its writes, and apply them in one idempotent bulk write."""
    now = utcnow()
    system = report.system
    profiles = store.collection("profiles")
    # Handles of erased people are not brought back by an import.
    hashes = {erasure_hash(h[2]): h[2] for row in rows for h in row.handles}
    erased: set[str] = set()
    if hashes:
        async for doc in store.collection("erasures").find(
            {"identity_hashes": {"$in": list(hashes)}}, {"identity_hashes": 1}
        ):
            erased.update(hashes[h] for h in doc.get("identity_hashes") or [] if h in hashes)
    for row in rows:
        row.handles = [h for h in row.handles if h[2] not in erased]
    crm_ids = sorted({row.crm_id for row in rows if row.crm_id})
    emails = sorted({e for row in rows for e in row.emails})
    keys = sorted({h[2] for row in rows for h in row.handles})
    docs: dict[str, Document] = {}
    # One query per key kind: the embedded server serves each $in from its index, an $or by a scan.
    for path, values in (
        ("crm_id", crm_ids),
        ("emails", emails),
        ("identities.handle_key", keys),
    ):
        if values:
            async for doc in profiles.find({path: {"$in": values}}):
                docs[doc["_id"]] = doc
    originals = {pid: copy.deepcopy(doc) for pid, doc in docs.items()}
    by_crm: dict[str, list[str]] = {}
    by_email: dict[str, list[str]] = {}
    by_key: dict[str, list[str]] = {}

    def index(pid: str) -> None:
        doc = docs[pid]
        if doc.get("crm_id"):
            _add(by_crm, str(doc["crm_id"]), pid)
        for email in doc.get("emails") or []:
            _add(by_email, email, pid)
        for identity in doc.get("identities") or []:
            if identity.get("handle_key"):
                _add(by_key, identity["handle_key"], pid)

    for pid in sorted(docs):
        index(pid)
    created: set[str] = set()
    pairs: dict[str, list[str]] = {}  # proposal id -> reasons
    for row in rows:
        matches: list[tuple[str, str]] = []  # (profile id, why it matched)
        if row.crm_id:
            matches += [
                (pid, f"same CRM record {row.crm_id}") for pid in by_crm.get(row.crm_id, [])
            ]
        for email in row.emails:
            matches += [(pid, f"same email {email}") for pid in by_email.get(email, [])]
        for _, _, key in row.handles:
            matches += [(pid, f"same handle {key}") for pid in by_key.get(key, [])]
        target: str | None = None
        others: dict[str, str] = {}
        for pid, why in matches:
            if pid == target or pid in others:
                continue
            held = docs[pid].get("crm_id")
            if target is None and not (row.crm_id and held and held != row.crm_id):
                target = pid
            else:
                others[pid] = why
        if target is None:
            doc = _new_profile(row, system, now)
            target = doc["_id"]
            docs[target] = doc
            created.add(target)
            report.created += 1
            before = None
        else:
            before = _state(docs[target])
        _update(docs[target], row, system, now, by_key)
        index(target)
        if before is not None:
            if _state(docs[target]) == before:
                report.unchanged += 1
            else:
                report.merged += 1
        for other, why in others.items():
            pair = "|".join(sorted((target, other)))
            reasons = pairs.setdefault(pair, [])
            reason = f"CRM import ({system}): {why}"
            if reason not in reasons:
                reasons.append(reason)
    writes: list[InsertOne[Document] | UpdateOne] = []
    for pid, doc in docs.items():
        if pid in created:
            writes.append(InsertOne(doc))
        elif (update := _changes(originals[pid], doc, now)) is not None:
            writes.append(UpdateOne({"_id": pid}, update))
    proposals = await _new_proposals(store, pairs, now)
    report.proposals += len(proposals)
    if dry_run:
        return
    if writes:
        await profiles.bulk_write(writes, ordered=False)
    if proposals:
        await store.collection("merge_proposals").bulk_write(
            [
                UpdateOne({"_id": doc["_id"]}, {"$setOnInsert": doc}, upsert=True)
                for doc in proposals
            ],
            ordered=False,
        )


def _add(index: dict[str, list[str]], key: str, pid: str) -> None:
    holders = index.setdefault(key, [])
    if pid not in holders:
        holders.append(pid)


def _update(
    doc: Document, row: _Row, system: str, now: datetime, by_key: Mapping[str, list[str]]
) -> None:
    """Apply a row to a profile document in memory (the writes are computed from the result)."""
    if row.display_name:
        doc["display_name"] = row.display_name
    if row.crm_id and not doc.get("crm_id"):
        doc["crm_id"] = row.crm_id
    doc["crm_system"] = system
    if row.crm_fields:
        doc["crm_fields"] = {**(doc.get("crm_fields") or {}), **row.crm_fields}
    if row.value is not None:
        doc["value"] = row.value
    if row.tier:
        doc["tier"] = row.tier
    tags = list(doc.get("tags") or [])
    doc["tags"] = tags + [t for t in row.tags if t not in tags]
    emails = list(doc.get("emails") or [])
    doc["emails"] = emails + [e for e in row.emails if e not in emails]
    identities = list(doc.get("identities") or [])
    held = {i.get("handle_key") for i in identities} | {i.get("key") for i in identities}
    for source, handle, key in row.handles:
        # A handle another profile holds stays there; the merge proposal covers it.
        if key in held or by_key.get(key):
            continue
        identities.append(
            {
                "key": key,
                "handle_key": key,
                "source": source,
                "id": None,
                "handle": handle,
                "url": None,
                "display_name": None,
                "followers": None,
                "first_seen": now,
                "last_seen": now,
            }
        )
        held.add(key)
    doc["identities"] = identities
    if row.do_not_contact:
        doc["do_not_contact"] = True


def _changes(before: Document, after: Document, now: datetime) -> Document | None:
    """The idempotent update taking ``before`` to ``after``; ``None`` when nothing changed."""
    sets: Document = {}
    for name in ("display_name", "crm_id", "crm_system", "crm_fields", "value", "tier"):
        if after.get(name) != before.get(name):
            sets[name] = after.get(name)
    if bool(after.get("do_not_contact")) != bool(before.get("do_not_contact")):
        sets["do_not_contact"] = bool(after.get("do_not_contact"))
    added: Document = {}
    for name in ("emails", "tags"):
        new = [v for v in after.get(name) or [] if v not in (before.get(name) or [])]
        if new:
            added[name] = {"$each": new}
    old_keys = {i.get("key") for i in before.get("identities") or []}
    identities = [i for i in after.get("identities") or [] if i.get("key") not in old_keys]
    if identities:
        added["identities"] = {"$each": identities}
    if not sets and not added:
        return None
    sets["updated_at"] = now
    update: Document = {"$set": sets}
    if added:
        update["$addToSet"] = added
    return update


async def _new_proposals(
    store: Database, pairs: dict[str, list[str]], now: datetime
) -> list[Document]:
    """Proposals to record: pairs never proposed before and never split apart."""
    if not pairs:
        return []
    known = {
        doc["_id"]
        async for doc in store.collection("merge_proposals").find(
            {"_id": {"$in": list(pairs)}}, {"_id": 1}
        )
    }
    ids = sorted({pid for pair in pairs for pid in pair.split("|")})
    split: set[str] = set()
    async for doc in store.collection("merges").find(
        {"split_at": {"$ne": None}, "into": {"$in": ids}, "absorbed": {"$in": ids}},
        {"into": 1, "absorbed": 1},
    ):
        split.add("|".join(sorted((doc["into"], doc["absorbed"]))))
    proposals = []
    for pair, reasons in pairs.items():
        if pair in known or pair in split:
            continue
        a, b = pair.split("|")
        proposals.append(
            {"_id": pair, "a": a, "b": b, "reasons": reasons, "created_at": now, "state": "open"}
        )
    return proposals
