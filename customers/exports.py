"""Advocate lists for marketing: who loves a brand, as CSV or XLSX, safe to open in a spreadsheet.

``advocate_rows`` reads the ``advocacy`` documents of a brand (its advocates, or every
profile at or above a score) joined with their profiles. A profile marked
``do_not_contact`` is never in an export, whatever the filters. Emails are shown only
for profiles whose consent is recorded (``do_not_contact`` explicitly ``False``, as a
CRM import sets it); a collected profile with no recorded consent shows none.

Exports are opened in spreadsheets, which run a cell that starts with ``=`` as a
formula: a post author named ``=HYPERLINK("http://evil","click")`` must arrive as text.
CSV cells starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return get a
leading single quote (OWASP's advice for CSV injection); XLSX cells are written with the
string type, so they are text whatever they start with. Numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from config.settings import Settings
from store import Database

__all__ = [
    "COLUMNS",
    "AdvocateRow",
    "advocate_rows",
    "csv_bytes",
    "escape_cell",
    "rows_as_dicts",
    "write_csv",
    "write_xlsx",
    "xlsx_bytes",
]

Document = dict[str, Any]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Characters XML 1.0 (and so XLSX) cannot hold; openpyxl refuses them.
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_CHUNK = 500


@dataclass(frozen=True)
class AdvocateRow:
    """One line of an advocate export (``last_mention_at`` is UTC)."""

    name: str
    handles: str
    profile_urls: str
    emails: str
    score: float
    tier: str
    mentions: int
    last_mention_at: datetime | None
    last_mention_url: str


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(AdvocateRow))


async def advocate_rows(
    store: Database,
    brand: str,
    *,
    min_score: float | None = None,
    since: datetime | None = None,
    source: str | None = None,
    settings: Settings | None = None,
) -> list[AdvocateRow]:
    """The profiles to export for ``brand``, highest score first; never a do-not-contact one.

    Args:
        store: the open store.
        brand: the brand whose advocates to list.
        min_score: list every profile scoring at least this (any tier). Without it, the
            advocates: score at or above ``settings.advocate_threshold`` when settings
            are given (the threshold in force now), else the stored ``advocate`` tier.
        since: keep profiles whose last mention of the brand is at or after this.
        source: keep profiles with at least one mention of the brand from this source.
        settings: the settings, for the advocate threshold.
    """
    floor = min_score
    if floor is None and settings is not None:
        floor = settings.advocate_threshold
    # With no score to reach, the advocates are those the scorer last tiered so.
    scored = await store.profiles.brand_advocacy(
        brand, min_score=floor, tier="advocate" if floor is None else None, since=since
    )
    rows: list[AdvocateRow] = []
    for start in range(0, len(scored), _CHUNK):
        chunk = scored[start : start + _CHUNK]
        profiles = await store.profiles.contactable([str(doc["profile_id"]) for doc in chunk])
        if source is not None:
            present = await store.mentions.profiles_mentioning(
                list(profiles), brand=brand, source=source
            )
            profiles = {pid: doc for pid, doc in profiles.items() if pid in present}
        rows.extend(
            _row(profiles[str(doc["profile_id"])], doc)
            for doc in chunk
            if str(doc["profile_id"]) in profiles
        )
    return rows


def _row(profile: Document, advocacy: Document) -> AdvocateRow:
    identities = profile.get("identities") or []
    handles = list(
        dict.fromkeys(
            f"{i['source']}:@{str(i['handle']).lstrip('@')}"
            for i in identities
            if i.get("handle") and i.get("source")
        )
    )
    urls = list(dict.fromkeys(str(i["url"]) for i in identities if i.get("url")))
    consented = profile.get("do_not_contact") is False
    emails = profile.get("emails") or [] if consented else []
    name = profile.get("display_name") or next(
        (str(i.get("display_name")) for i in identities if i.get("display_name")), ""
    )
    return AdvocateRow(
        name=str(name),
        handles="; ".join(handles),
        profile_urls="; ".join(urls),
        emails="; ".join(str(e) for e in emails),
        score=round(float(advocacy.get("score") or 0.0), 2),
        tier=str(advocacy.get("tier") or ""),
        mentions=int(advocacy.get("mentions") or 0),
        last_mention_at=advocacy.get("last_mention_at"),
        last_mention_url=str(advocacy.get("last_mention_url") or ""),
    )


def escape_cell(value: str) -> str:
    """A CSV cell that a spreadsheet shows as text: a leading quote before = + - @ tab CR."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _csv_value(value: object) -> object:
    if isinstance(value, datetime):
        return _utc(value).isoformat(timespec="seconds")
    if value is None:
        return ""
    if isinstance(value, str):
        return escape_cell(value)
    return value


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def write_csv(rows: Iterable[AdvocateRow], target: str | Path | IO[str]) -> int:
    """Write ``rows`` as CSV (header first) to a path (UTF-8 with BOM, for Excel) or a text stream.

    Returns how many rows were written.
    """
    if isinstance(target, str | Path):
        with Path(target).open("w", encoding="utf-8-sig", newline="") as file:
            return _write_csv(rows, file)
    return _write_csv(rows, target)


def _write_csv(rows: Iterable[AdvocateRow], file: IO[str]) -> int:
    writer = csv.writer(file)
    writer.writerow(COLUMNS)
    count = 0
    for row in rows:
        writer.writerow([_csv_value(value) for value in astuple(row)])
        count += 1
    return count


def csv_bytes(rows: Iterable[AdvocateRow]) -> bytes:
    """The CSV export as bytes (UTF-8 with BOM), e.g. for a download button."""
    buffer = io.StringIO(newline="")
    _write_csv(rows, buffer)
    return buffer.getvalue().encode("utf-8-sig")


def write_xlsx(rows: Iterable[AdvocateRow], target: str | Path | IO[bytes]) -> int:
    """Write ``rows`` as an XLSX sheet to a path or a binary stream; every string is a text cell.

    Returns how many rows were written.
    """
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Advocates")
    sheet.append([_xlsx_cell(sheet, name) for name in COLUMNS])
    count = 0
    for row in rows:
        sheet.append([_xlsx_cell(sheet, value) for value in astuple(row)])
        count += 1
    workbook.save(target)
    return count


def _xlsx_cell(sheet: Any, value: object) -> WriteOnlyCell:
    if isinstance(value, datetime):
        cell = WriteOnlyCell(sheet, value=_utc(value).replace(tzinfo=None))
        cell.number_format = "yyyy-mm-dd hh:mm:ss"
        return cell
    if value is None:
        return WriteOnlyCell(sheet, value=None)
    if isinstance(value, str):
        cell = WriteOnlyCell(sheet, value=_ILLEGAL_XML.sub("", value))
        # Text, never a formula: openpyxl would otherwise make "=..." a formula cell.
        cell.data_type = "s"
        return cell
    return WriteOnlyCell(sheet, value=value)


def xlsx_bytes(rows: Iterable[AdvocateRow]) -> bytes:
    """The XLSX export as bytes, e.g. for a download button."""
    buffer = io.BytesIO()
    write_xlsx(rows, buffer)
    return buffer.getvalue()


def rows_as_dicts(rows: Sequence[AdvocateRow]) -> list[dict[str, object]]:
    """Rows as dictionaries keyed by column (for a table on the dashboard)."""
    return [dict(zip(COLUMNS, astuple(row), strict=True)) for row in rows]
