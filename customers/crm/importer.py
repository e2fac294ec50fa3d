"""The CRM import run: read a file as a stream, match rows to profiles in batches, report.

**Matching**, in this order: the CRM record id (``profiles.crm_id``), then an email
(``profiles.emails``), then a social handle (``profiles.identities.handle_key``). The row
is applied to the first profile found. When it also matches a *different* profile, the
two are never merged silently: a ``merge_proposals`` document says why they may be one
person, and a person decides. A row that matches nothing creates a profile
(``origin: "crm"``) holding its emails and handles.

**Erased people stay erased**: a row whose record id, an email or a handle is hashed in
an erasure record (``customers/rights.py``) is rejected ("erased on request; not
imported") and nothing of it is written, not even to another profile it matches.

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

import contextlib
import copy
import csv
import io
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from tqdm import tqdm  # type: ignore[import-untyped]  # tqdm ships no type hints

from customers.crm.mapping import PRESETS, detect_preset, load_mapping, resolve_columns
from customers.crm.rows import (
    ParsedRow,
    RowProblem,
    SeenRows,
    apply_row,
    new_profile,
    parse_row,
    profile_state,
    undecodable,
)
from goodwill.errors import CrmImportError
from goodwill.identity import crm_key, email_key, erasure_hash
from goodwill.models import utcnow
from store import Database

__all__ = ["BATCH_SIZE", "MAX_LISTED", "ImportReport", "import_csv"]

Document = dict[str, Any]

BATCH_SIZE = 1000
# The most rejected or duplicate rows listed one by one in a report (all are counted).
MAX_LISTED = 1000


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
    _check_encoding(encoding)
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
        except UnicodeError as error:  # not a decoding error: utf-16 without its BOM
            raise CrmImportError(
                f"{where} cannot be read as {encoding} ({error}); try --encoding utf-8 or "
                "cp1252. Nothing was imported."
            ) from None
        if header:
            header[0] = header[0].lstrip("\ufeff")
        if any(undecodable(name) for name in header):
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
        columns = resolve_columns(columns_mapping, header)
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
        seen = SeenRows(tmp)
        stack.callback(seen.close)
        batch: list[ParsedRow] = []
        for number, cells in _records(reader):
            report.rows += 1
            if isinstance(cells, RowProblem):
                report.reject(number, cells.reason)
                continue
            parsed = parse_row(number, cells, columns, encoding)
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


def _check_encoding(encoding: str) -> None:
    """Stop unless ``encoding`` is a text encoding the import can read a file in.

    ``codecs.lookup`` alone is not enough: it knows ``rot13``, ``base64`` and ``zlib``,
    which are not text encodings, and ``idna``, which refuses the error handler the import
    uses; so a line written in it is read back here as the import reads the file.
    """
    try:
        line = "Email,Name\r\n".encode(encoding)
        io.TextIOWrapper(io.BytesIO(line), encoding=encoding, errors="surrogateescape").read()
    except (LookupError, ValueError):  # ValueError: a UnicodeError, or a name holding a NUL
        raise CrmImportError(
            f"--encoding {encoding!r} is not a text encoding Python can read a CSV file in; "
            "give utf-8, cp1252 (Excel on Windows) or latin-1."
        ) from None


# How compressed files and archives start (a CSV never does), and what to do with one.
_UNPACK = "and import the CSV file inside"
_PACKED = (
    (b"\x1f\x8b", "gzip-compressed", f"decompress it first (gunzip -k FILE) {_UNPACK}"),
    (b"PK\x03\x04", "a zip archive", f"unzip it first {_UNPACK}"),
    (b"PK\x05\x06", "an empty zip archive", "export the CSV again"),
    (b"\xfd7zXZ\x00", "xz-compressed", f"decompress it first (unxz -k FILE) {_UNPACK}"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed", f"decompress it first (unzstd FILE) {_UNPACK}"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", f"extract it first {_UNPACK}"),
    # bzip2 ("BZh" and a block size) is told by its block magic too: "BZh..." may be text.
    (b"BZh", "bzip2-compressed", f"decompress it first (bunzip2 -k FILE) {_UNPACK}"),
)
_BZIP2 = re.compile(rb"BZh[1-9](1AY&SY|\x17rE8P\x90)")


def _check_not_packed(where: Path, head: bytes) -> None:
    """Stop with what to do when the file is compressed, an archive, or an Excel workbook."""
    if head.startswith(b"PK\x03\x04") and where.suffix.lower() in (".xlsx", ".xlsm"):
        raise CrmImportError(
            f"{where} is an Excel workbook, not CSV; save it as CSV (File > Save As > "
            "CSV UTF-8) and import that file. Nothing was imported."
        )
    for magic, what, how in _PACKED:
        if head.startswith(magic) and (magic != b"BZh" or _BZIP2.match(head)):
            raise CrmImportError(f"{where} is {what}, not CSV; {how}. Nothing was imported.")


def _open(where: Path) -> tuple[BinaryIO, int]:
    """The file opened for reading, and its size in bytes.

    Reads of a local file are not awaited: the import is a command-line batch job, and
    each read is one buffer, so the event loop is never held for long.

    Raises:
        CrmImportError: it cannot be read, or is compressed (an archive, a workbook).
    """
    try:
        raw = where.open("rb")
    except OSError as error:
        raise CrmImportError(f"Cannot read {where}: {error.strerror}.") from None
    try:
        # peek, not read and seek back: the file may be a pipe (/dev/stdin).
        _check_not_packed(where, raw.peek(10)[:10])
        return raw, where.stat().st_size
    except OSError as error:
        raw.close()
        raise CrmImportError(f"Cannot read {where}: {error.strerror}.") from None
    except CrmImportError:
        raw.close()
        raise


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


async def _apply(
    store: Database, rows: list[ParsedRow], report: ImportReport, dry_run: bool
) -> None:
    """Match a batch of rows, compute its writes, and apply them in one idempotent bulk write."""
    now = utcnow()
    system = report.system
    rows = await _without_erased(store, rows, report)
    crm_ids = sorted({row.crm_id for row in rows if row.crm_id})
    emails = sorted({e for row in rows for e in row.emails})
    keys = sorted({h[2] for row in rows for h in row.handles})
    docs = await store.profiles.matching_crm_rows(crm_ids=crm_ids, emails=emails, handle_keys=keys)
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
            doc = new_profile(row, system, now)
            target = doc["_id"]
            docs[target] = doc
            created.add(target)
            report.created += 1
            before = None
        else:
            before = profile_state(docs[target])
        apply_row(docs[target], row, system, now, by_key)
        index(target)
        if before is not None:
            if profile_state(docs[target]) == before:
                report.unchanged += 1
            else:
                report.merged += 1
        for other, why in others.items():
            pair = "|".join(sorted((target, other)))
            reasons = pairs.setdefault(pair, [])
            reason = f"CRM import ({system}): {why}"
            if reason not in reasons:
                reasons.append(reason)
    inserts = [doc for pid, doc in docs.items() if pid in created]
    updates: dict[str, Document] = {}
    for pid, doc in docs.items():
        if pid not in created and (update := _changes(originals[pid], doc, now)) is not None:
            updates[pid] = update
    proposals = await _new_proposals(store, pairs, now)
    report.proposals += len(proposals)
    if dry_run:
        return
    await store.profiles.write_crm_batch(inserts, updates)
    await store.merges.record_import_proposals(proposals)


async def _without_erased(
    store: Database, rows: list[ParsedRow], report: ImportReport
) -> list[ParsedRow]:
    """The rows naming no erased person; each of the others is rejected, and nothing of it kept.

    A row names an erased person when the hash of a key it is matched on (record id, an
    email, a handle) is in an erasure record: importing it would rebuild the person.
    """
    hashes: dict[str, str] = {}  # erasure hash -> what the key is, for the report
    for row in rows:
        if row.crm_id:
            hashes[erasure_hash(crm_key(row.crm_id))] = "record id"
        hashes.update((erasure_hash(email_key(email)), "email") for email in row.emails)
        hashes.update((erasure_hash(key), "handle") for _, _, key in row.handles)
    erased = await store.erasures.erased_among(hashes)
    if not erased:
        return rows
    kept = []
    for row in rows:
        keys = [crm_key(row.crm_id)] if row.crm_id else []
        keys += [email_key(email) for email in row.emails] + [key for _, _, key in row.handles]
        matched = [hashes[h] for h in map(erasure_hash, keys) if h in erased]
        if matched:
            report.reject(
                row.number,
                f"erased on request; not imported (its {matched[0]} is an erased person's)",
            )
        else:
            kept.append(row)
    return kept


def _add(index: dict[str, list[str]], key: str, pid: str) -> None:
    holders = index.setdefault(key, [])
    if pid not in holders:
        holders.append(pid)


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
    known = set(await store.merges.proposals_by_id(list(pairs)))
    ids = sorted({pid for pair in pairs for pid in pair.split("|")})
    split = {"|".join(sorted(pair)) for pair in await store.merges.splits_among(ids)}
    proposals = []
    for pair, reasons in pairs.items():
        if pair in known or pair in split:
            continue
        a, b = pair.split("|")
        proposals.append(
            {"_id": pair, "a": a, "b": b, "reasons": reasons, "created_at": now, "state": "open"}
        )
    return proposals
