"""``goodwill profiles import|export-data|erase`` and ``goodwill export advocates``, as a user runs them."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from pymongo import MongoClient
from pymongo.database import Database

from tests.factories import advocacy_doc, profile_doc


def goodwill(
    *args: str, env: dict[str, str], stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``goodwill ARGS`` as a separate process and capture what it prints."""
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def db(mongodb_uri: str, database_name: str) -> Iterator[Database[dict[str, Any]]]:
    """The test database, through a plain synchronous client (to seed and inspect)."""
    with MongoClient[dict[str, Any]](mongodb_uri, tz_aware=True) as client:
        yield client[database_name]
        client.drop_database(database_name)


def test_import_reports_counts_and_a_second_run_changes_nothing(
    goodwill_env: dict[str, str], db: Database[dict[str, Any]], tmp_path: Path
) -> None:
    """`profiles import` prints created/rejected rows; the same file again is all unchanged."""
    path = tmp_path / "hubspot.csv"
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["Record ID", "First Name", "Email", "Lifecycle Stage", "Total Revenue"])
        writer.writerow(["1", "Ann", "ann@example.com", "customer", "100"])
        writer.writerow(["2", "Bo", "bo@example", "lead", ""])
        writer.writerow(["3", "Cy", "cy@example.com", "lead", "12"])
    first = goodwill("profiles", "import", str(path), env=goodwill_env)
    assert first.returncode == 0, first.stderr
    assert "created:    2" in first.stdout and "rejected:   1" in first.stdout
    assert "row 3: 'bo@example' in column 'Email' is not an email" in first.stdout
    assert db.profiles.count_documents({"origin": "crm"}) == 2
    again = goodwill("profiles", "import", str(path), env=goodwill_env)
    assert "unchanged:  2" in again.stdout and "created:    0" in again.stdout


def test_import_without_usable_columns_fails_with_the_columns_it_saw(
    goodwill_env: dict[str, str], tmp_path: Path
) -> None:
    """A file without an id, email or handle column stops with its columns named, no traceback."""
    path = tmp_path / "names.csv"
    path.write_text("Given,Family\nAnn,Lee\n")
    result = goodwill("profiles", "import", str(path), env=goodwill_env)
    assert result.returncode == 1
    assert "'Given', 'Family'" in result.stderr and "Traceback" not in result.stderr


def test_export_advocates_as_csv_and_xlsx(
    goodwill_env: dict[str, str], db: Database[dict[str, Any]], tmp_path: Path
) -> None:
    """`export advocates` writes the brand's advocates; do-not-contact ones never appear."""
    ann = profile_doc("ann", display_name="=cmd|' /C calc'!A0", emails=["ann@example.com"])
    cy = profile_doc("cy", emails=["cy@example.com"], do_not_contact=True)
    db.profiles.insert_many([ann, cy])
    db.advocacy.insert_many([advocacy_doc(ann["_id"], score=60), advocacy_doc(cy["_id"], score=90)])
    out = tmp_path / "advocates.csv"
    result = goodwill("export", "advocates", "--brand", "Acme", "-o", str(out), env=goodwill_env)
    assert result.returncode == 0, result.stderr
    assert "Wrote 1 Acme advocates" in result.stdout
    rows = list(csv.reader(out.read_text(encoding="utf-8-sig").splitlines()))
    assert rows[1][:4] == [
        "'=cmd|' /C calc'!A0",
        "reddit:@ann",
        "https://reddit.example/ann",
        "ann@example.com",
    ]
    assert "cy" not in out.read_text(encoding="utf-8-sig")
    xlsx = tmp_path / "advocates.xlsx"
    result = goodwill(
        "export", "advocates", "--brand", "Acme", "--since", "90d", "--format", "xlsx",
        "-o", str(xlsx), env=goodwill_env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    cell = load_workbook(xlsx).active.cell(2, 1)
    assert (cell.value, cell.data_type) == ("=cmd|' /C calc'!A0", "s")
    bad = goodwill(
        "export", "advocates", "--brand", "Acme", "--format", "pdf", "-o", "x", env=goodwill_env
    )
    assert bad.returncode == 1 and "csv or xlsx" in bad.stderr


def test_export_data_then_erase_with_confirmation(
    goodwill_env: dict[str, str], db: Database[dict[str, Any]], tmp_path: Path
) -> None:
    """`export-data` prints JSON; `erase` asks first, and with --yes removes the profile."""
    bob = profile_doc("bob_the_fan", display_name="Bobby", emails=["bob@example.com"])
    db.profiles.insert_one(bob)
    db.advocacy.insert_one(advocacy_doc(bob["_id"]))
    exported = goodwill("profiles", "export-data", "bob@example.com", env=goodwill_env)
    assert exported.returncode == 0, exported.stderr
    data = json.loads(exported.stdout)
    assert data["profile"]["_id"] == bob["_id"] and len(data["advocacy"]) == 1
    saved = tmp_path / "bob.json"
    to_file = goodwill("profiles", "export-data", bob["_id"], "-o", str(saved), env=goodwill_env)
    assert to_file.returncode == 0 and json.loads(saved.read_text())["profile"]["emails"] == [
        "bob@example.com"
    ]
    declined = goodwill("profiles", "erase", "reddit:bob_the_fan", env=goodwill_env, stdin="n\n")
    assert declined.returncode == 1 and "Erase profile" in declined.stdout
    assert db.profiles.count_documents({"_id": bob["_id"]}) == 1
    erased = goodwill(
        "profiles", "erase", "reddit:bob_the_fan", "--yes", "--by", "dpo", env=goodwill_env
    )
    assert erased.returncode == 0, erased.stderr
    assert f"Erased {bob['_id']}" in erased.stdout
    assert db.profiles.count_documents({}) == 0 and db.advocacy.count_documents({}) == 0
    assert (db.erasures.find_one({}) or {}).get("by") == "dpo"
    unknown = goodwill("profiles", "erase", "reddit:bob_the_fan", "--yes", env=goodwill_env)
    assert unknown.returncode == 1 and "Pass a profile id" in unknown.stderr
