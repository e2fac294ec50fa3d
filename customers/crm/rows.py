"""One row of a CRM export: parsed and checked, then applied to a profile document.

**Bad rows are rejected, not guessed at**, each with its row number (the header is row 1,
as a spreadsheet shows it) and reason: an invalid email, a value that is not a number,
bytes that are not valid in the file's encoding, an over-long field, a row with no id,
email or handle. A row for the same person as an earlier row of the file (same record
id, or a shared email or handle where one of them has no record id) is a duplicate of
that row (``SeenRows``, kept on disk so memory stays constant) and not applied twice.

**Consent**: any opt-out column that says yes sets ``do_not_contact``. Applying a row
never lifts it: giving consent back is a person's decision, not a side effect of a file.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from customers.crm.mapping import ResolvedColumns
from goodwill.identity import handle_key, new_profile_id
from goodwill.models import Profile

__all__ = [
    "MAX_FIELD",
    "ParsedRow",
    "RowProblem",
    "SeenRows",
    "apply_row",
    "new_profile",
    "parse_row",
    "profile_state",
    "undecodable",
]

Document = dict[str, Any]

# The most characters kept of one field; a longer one rejects its row (a name is not 1 kB).
MAX_FIELD = 1000
_TRUE = frozenset({"true", "yes", "y", "1", "x", "t", "on", "checked", "opted out"})
_FALSE = frozenset({"false", "no", "n", "0", "f", "off", "unchecked", ""})
# No control character either: an ESC in an "email" is a terminal escape, not an address.
_NOT_EMAIL = r"@\s,;<>\"\x00-\x1f\x7f-\x9f"
_EMAIL = re.compile(rf"^[^{_NOT_EMAIL}]+@[^{_NOT_EMAIL}]+\.[^{_NOT_EMAIL}]+$")
_SURROGATE = re.compile("[\udc80-\udcff]")


def undecodable(text: str) -> bool:
    """Whether ``text`` holds bytes its file's encoding could not decode (lone surrogates)."""
    return _SURROGATE.search(text) is not None


@dataclass(frozen=True)
class RowProblem:
    """A row not applied: its number (header = row 1) and why."""

    row: int
    reason: str


@dataclass
class ParsedRow:
    """A row that passed every check: who it names and what it says of them."""

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


def parse_row(
    number: int, cells: list[str], columns: ResolvedColumns, encoding: str
) -> ParsedRow | RowProblem:
    """Row ``number``'s ``cells`` read through ``columns``, or why the row is rejected."""
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
    return ParsedRow(
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


class SeenRows:
    """Keys of rows already applied in this file, on disk: constant memory for any file size."""

    def __init__(self, directory: str) -> None:
        self._db = sqlite3.connect(Path(directory) / "seen.sqlite3")
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE seen (key TEXT PRIMARY KEY, row INTEGER, has_crm INTEGER)")

    def close(self) -> None:
        """Close the on-disk table (its directory is removed by the caller)."""
        self._db.close()

    def duplicate_of(self, row: ParsedRow) -> str | None:
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


def profile_state(doc: Document) -> tuple[Any, ...]:
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


def new_profile(row: ParsedRow, system: str, now: datetime) -> Document:
    """An empty CRM-made profile (``origin: "crm"``), for ``apply_row`` to fill from ``row``."""
    return Profile(
        _id=new_profile_id(), crm_system=system, origin="crm", created_at=now, updated_at=now
    ).to_document()


def apply_row(
    doc: Document, row: ParsedRow, system: str, now: datetime, by_key: Mapping[str, list[str]]
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
