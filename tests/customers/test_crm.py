"""CRM import: presets, matching, rejections, idempotent re-import, streaming (real database)."""

from __future__ import annotations

import csv
import io
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from customers.crm import CrmImportError, RowProblem, detect_preset, import_csv
from goodwill.errors import StoreError
from goodwill.identity import crm_key, email_key, erasure_hash, handle_key
from store import Database
from tests.factories import profile_doc

HUBSPOT_HEADER = [
    "Record ID",
    "First Name",
    "Last Name",
    "Email",
    "Twitter Username",
    "Lifecycle Stage",
    "Total Revenue",
    "Company Name",
    "Unsubscribed from all email",
    "Create Date",
]


def write_csv(
    path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8"
) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


async def snapshot(store: Database) -> dict[str, list[dict[str, Any]]]:
    """Every document of every collection, for before/after comparisons."""
    database = store.collection("profiles").database
    names = sorted(await database.list_collection_names())
    return {
        name: sorted(
            [doc async for doc in database[name].find({})], key=lambda doc: str(doc["_id"])
        )
        for name in names
    }


async def test_hubspot_export_creates_merges_and_rejects_rows_by_number(
    store: Database, tmp_path: Path
) -> None:
    """A HubSpot export: new people are created, known ones updated, bad rows named by row number."""
    collected = profile_doc("bobby_t", source="twitter", display_name="bobby")
    await store.collection("profiles").insert_one(collected)
    path = write_csv(
        tmp_path / "hubspot.csv",
        HUBSPOT_HEADER,
        [
            # row 2: new person
            [
                "101",
                "Ann",
                "Lee",
                "Ann@Example.com",
                "",
                "customer",
                "1,200.50",
                "Acme",
                "false",
                "",
            ],
            # row 3: matches the collected twitter profile by handle
            ["102", "Bob", "Tan", "bob@example.com", "@Bobby_T", "evangelist", "$80", "", "", ""],
            # row 4: bad email
            ["103", "Cy", "Ng", "not-an-email", "", "lead", "", "", "false", ""],
            # row 5: value not a number
            ["104", "Di", "Wu", "di@example.com", "", "lead", "lots", "", "false", ""],
            # row 6: duplicate of row 2 (same record id)
            ["101", "Ann", "Lee", "ann@example.com", "", "customer", "1200.5", "Acme", "", ""],
            # row 7: opted out
            ["105", "Ed", "Oh", "ed@example.com", "", "customer", "", "", "true", ""],
        ],
    )
    report = await import_csv(store, path)
    assert report.preset == "hubspot" and report.system == "hubspot"
    assert (report.rows, report.created, report.merged, report.unchanged) == (6, 2, 1, 0)
    assert [(p.row, p.reason.split(" ")[0]) for p in report.rejected] == [
        (4, "'not-an-email'"),
        (5, "value"),
    ]
    assert "is not an email" in report.rejected[0].reason
    assert "'lots'" in report.rejected[1].reason and "not a number" in report.rejected[1].reason
    assert [(p.row, p.reason) for p in report.duplicates] == [
        (6, "duplicate of row 2 (same record id '101')")
    ]
    profiles = store.collection("profiles")
    ann = await profiles.find_one({"crm_id": "101"})
    assert ann is not None
    assert ann["emails"] == ["ann@example.com"] and ann["origin"] == "crm"
    assert ann["value"] == 1200.5 and ann["tier"] == "customer"
    assert ann["display_name"] == "Ann Lee" and ann["crm_system"] == "hubspot"
    assert ann["crm_fields"] == {"first_name": "Ann", "last_name": "Lee", "company": "Acme"}
    assert ann["do_not_contact"] is False and ann["_id"].startswith("p_")
    bob = await profiles.find_one({"_id": collected["_id"]})
    assert bob is not None
    assert bob["crm_id"] == "102" and bob["emails"] == ["bob@example.com"] and bob["value"] == 80
    assert bob["origin"] == "collected" and len(bob["identities"]) == 1
    ed = await profiles.find_one({"crm_id": "105"})
    assert ed is not None and ed["do_not_contact"] is True
    assert await profiles.count_documents({}) == 3
    assert "created:    2" in report.summary() and "row 4:" in report.summary()


async def test_reimporting_the_same_file_changes_nothing(store: Database, tmp_path: Path) -> None:
    """A second import of the same file reports every row unchanged and writes nothing."""
    await store.collection("profiles").insert_one(profile_doc("ann", source="twitter"))
    await store.collection("profiles").insert_one(profile_doc(None, emails=["dup@example.com"]))
    path = write_csv(
        tmp_path / "hubspot.csv",
        HUBSPOT_HEADER,
        [
            ["1", "Ann", "Lee", "ann@example.com", "ann", "customer", "10", "", "", ""],
            ["2", "Bo", "Li", "bo@example.com", "bo_li", "lead", "", "X", "true", ""],
            # matches both the email-only profile and ann's twitter profile: proposal
            ["3", "Dee", "Up", "dup@example.com", "ann", "lead", "", "", "", ""],
        ],
    )
    first = await import_csv(store, path)
    assert (first.created, first.merged, first.proposals) == (1, 2, 1)
    before = await snapshot(store)
    again = await import_csv(store, path)
    assert (again.created, again.merged, again.unchanged, again.proposals) == (0, 0, 3, 0)
    assert await snapshot(store) == before


async def test_a_row_matching_two_profiles_is_proposed_for_merging_never_merged(
    store: Database, tmp_path: Path
) -> None:
    """Record id matches one profile and the handle another: applied to the first, a proposal made."""
    by_email = profile_doc(None, emails=["zoe@example.com"], crm_id="9", origin="crm")
    by_handle = profile_doc("zoe", source="reddit")
    await store.collection("profiles").insert_many([by_email, by_handle])
    path = write_csv(
        tmp_path / "people.csv",
        ["ID", "Email", "Reddit"],
        [["9", "zoe@example.com", "u/zoe"]],
    )
    report = await import_csv(store, path, preset="csv")
    assert (report.merged, report.proposals) == (1, 1)  # crm_system set; handle proposed
    assert await store.collection("profiles").count_documents({}) == 2
    proposal = await store.collection("merge_proposals").find_one({})
    assert proposal is not None
    assert proposal["_id"] == "|".join(sorted((by_email["_id"], by_handle["_id"])))
    assert proposal["state"] == "open" and proposal["reasons"] == [
        "CRM import (csv): same handle reddit:zoe"
    ]
    target = await store.collection("profiles").find_one({"_id": by_email["_id"]})
    assert target is not None and target["identities"] == []  # the handle stays where it is


async def test_salesforce_api_and_report_names_are_both_detected(
    store: Database, tmp_path: Path
) -> None:
    """Data Loader API names and report labels both map; opt-out columns set do_not_contact."""
    api = write_csv(
        tmp_path / "api.csv",
        ["Id", "FirstName", "LastName", "Email", "HasOptedOutOfEmail", "DoNotCall", "AccountId"],
        [
            ["0035g00000AAAAAAA1", "Ann", "Lee", "ann@example.com", "false", "false", "001x"],
            ["0035g00000AAAAAAA2", "Bo", "Li", "bo@example.com", "false", "1", "001x"],
        ],
    )
    report_labels = write_csv(
        tmp_path / "report.csv",
        ["Contact ID", "First Name", "Last Name", "Email", "Email Opt Out", "Account Name"],
        [["0035g00000AAAAAAA3", "Cy", "Ng", "cy@example.com", "1", "Globex"]],
    )
    first = await import_csv(store, api)
    second = await import_csv(store, report_labels)
    assert (first.preset, second.preset) == ("salesforce", "salesforce")
    assert (first.created, second.created) == (2, 1)
    profiles = store.collection("profiles")
    flags = {
        doc["crm_id"]: doc["do_not_contact"]
        async for doc in profiles.find({}, {"crm_id": 1, "do_not_contact": 1})
    }
    assert flags == {
        "0035g00000AAAAAAA1": False,
        "0035g00000AAAAAAA2": True,
        "0035g00000AAAAAAA3": True,
    }
    cy = await profiles.find_one({"crm_id": "0035g00000AAAAAAA3"})
    assert cy is not None and cy["crm_fields"]["company"] == "Globex"
    assert detect_preset(["Email", "Name"]) == "csv"


async def test_an_import_never_lifts_do_not_contact(store: Database, tmp_path: Path) -> None:
    """A later file saying "not opted out" leaves an opted-out profile opted out."""
    header = ["Id", "Email", "HasOptedOutOfEmail"]
    await import_csv(store, write_csv(tmp_path / "a.csv", header, [["1", "a@example.com", "true"]]))
    report = await import_csv(
        store, write_csv(tmp_path / "b.csv", header, [["1", "a@example.com", "false"]])
    )
    assert report.unchanged == 1
    doc = await store.collection("profiles").find_one({"crm_id": "1"})
    assert doc is not None and doc["do_not_contact"] is True


async def test_undecodable_bytes_reject_the_row_and_name_the_encoding(
    store: Database, tmp_path: Path
) -> None:
    """A cp1252 name in a file read as UTF-8 rejects that row, suggesting --encoding cp1252."""
    path = write_csv(
        tmp_path / "excel.csv",
        ["Id", "FirstName", "LastName", "Email"],
        [["1", "José", "Núñez", "jose@example.com"], ["2", "Ann", "Lee", "ann@example.com"]],
        encoding="cp1252",
    )
    report = await import_csv(store, path)
    assert (report.created, report.rejected_count) == (1, 1)
    assert report.rejected[0].row == 2
    assert "not valid utf-8" in report.rejected[0].reason
    assert "--encoding cp1252" in report.rejected[0].reason
    fixed = await import_csv(store, path, encoding="cp1252")
    assert (fixed.created, fixed.unchanged, fixed.rejected_count) == (1, 1, 0)
    jose = await store.collection("profiles").find_one({"crm_id": "1"})
    assert jose is not None and jose["display_name"] == "José Núñez"


async def test_missing_columns_stop_the_import_before_any_write(
    store: Database, tmp_path: Path
) -> None:
    """No id, email or handle column: an error naming what is missing and what is there."""
    path = write_csv(tmp_path / "names.csv", ["Given", "Family"], [["Ann", "Lee"]])
    with pytest.raises(CrmImportError) as raised:
        await import_csv(store, path)
    message = str(raised.value)
    assert "'Given', 'Family'" in message and "'Email'" in message
    mapping = tmp_path / "mapping.toml"
    mapping.write_text('crm_id = "Customer No"\nfirst_name = "Given"\n')
    with pytest.raises(CrmImportError, match="lacks the column\\(s\\) 'Customer No'"):
        await import_csv(store, path, mapping=mapping)
    assert await store.collection("profiles").count_documents({}) == 0


async def test_a_mapping_file_names_other_columns(store: Database, tmp_path: Path) -> None:
    """A TOML mapping maps custom columns, several email columns, handles and extra fields."""
    path = write_csv(
        tmp_path / "custom.csv",
        ["Cust No", "Work mail", "Home mail", "LTV", "Plan", "Segments", "GH", "Region"],
        [["77", "a@work.example", "A@home.example", "5e3", "enterprise", "vip; beta", "ann", "EU"]],
    )
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(
        'crm_id = "Cust No"\nemail = ["Work mail", "Home mail"]\nvalue = "LTV"\n'
        'tier = "Plan"\ntags = "Segments"\n[handles]\ngithub = "GH"\n[extra]\nregion = "Region"\n'
    )
    report = await import_csv(store, path, mapping=mapping, system="internal")
    assert report.created == 1
    doc = await store.collection("profiles").find_one({"crm_id": "77"})
    assert doc is not None
    assert doc["emails"] == ["a@work.example", "a@home.example"]
    assert (doc["value"], doc["tier"], doc["tags"]) == (5000.0, "enterprise", ["vip", "beta"])
    assert doc["crm_system"] == "internal" and doc["crm_fields"] == {"region": "EU"}
    assert [(i["key"], i["handle_key"]) for i in doc["identities"]] == [
        (handle_key("github", "ann"), handle_key("github", "ann"))
    ]
    bad = tmp_path / "bad.toml"
    bad.write_text('emails = "x"\n')
    with pytest.raises(CrmImportError, match="unknown key 'emails'"):
        await import_csv(store, path, mapping=bad)


async def test_a_row_with_an_erased_handle_is_rejected(store: Database, tmp_path: Path) -> None:
    """A row naming an erased handle is the erased person: rejected whole, nothing of it kept."""
    await store.collection("erasures").insert_one(
        {"identity_hashes": [erasure_hash(handle_key("twitter", "gone"))], "by": "t", "mentions": 0}
    )
    path = write_csv(
        tmp_path / "h.csv",
        HUBSPOT_HEADER,
        [["1", "", "", "x@example.com", "gone", "", "", "", "", ""]],
    )
    report = await import_csv(store, path)
    assert report.rejected == [
        RowProblem(2, "erased on request; not imported (its handle is an erased person's)")
    ]
    assert await store.collection("profiles").count_documents({}) == 0


async def test_a_row_with_an_erased_email_or_record_id_writes_nothing(
    store: Database, tmp_path: Path
) -> None:
    """An erased email or record id rejects its row, even one that also matches a live profile."""
    ann = profile_doc("ann", display_name="Ann", crm_id="55")
    await store.collection("profiles").insert_one(ann)
    await store.collection("erasures").insert_one(
        {
            "identity_hashes": [
                erasure_hash(email_key("gone@example.com")),
                erasure_hash(crm_key("7")),
            ],
            "by": "t",
            "mentions": 0,
        }
    )
    path = write_csv(
        tmp_path / "h.csv",
        HUBSPOT_HEADER,
        [
            ["55", "Gone", "", "Gone@Example.com", *[""] * 6],  # Ann's record id, erased email
            ["7", "Seven", *[""] * 8],  # an erased record id
            ["8", "Eight", "", "eight@example.com", *[""] * 6],
        ],
    )
    stored = await store.collection("profiles").find_one({"_id": ann["_id"]})
    before = await snapshot(store)
    dry = await import_csv(store, path, dry_run=True)
    assert await snapshot(store) == before
    report = await import_csv(store, path)
    for run in (dry, report):
        assert (run.created, run.merged, run.rejected_count) == (1, 0, 2)
        assert [problem.row for problem in run.rejected] == [2, 3]
        assert all("erased on request; not imported" in p.reason for p in run.rejected)
    assert await store.collection("profiles").find_one({"_id": ann["_id"]}) == stored
    assert await store.collection("profiles").count_documents({}) == 2


async def test_a_database_failure_is_a_store_error(
    mongodb_uri: str, database_name: str, tmp_path: Path
) -> None:
    """The import raises StoreError, never a driver error, when the database fails."""
    closed = await Database.open(mongodb_uri, database_name)
    await closed.close()
    path = write_csv(tmp_path / "h.csv", ["Email", "Twitter"], [["a@example.com", "al"]])
    with pytest.raises(StoreError):
        await import_csv(closed, path)


async def test_dry_run_reports_without_writing(store: Database, tmp_path: Path) -> None:
    """--dry-run counts what would happen and writes nothing."""
    path = write_csv(tmp_path / "h.csv", ["Email"], [["a@example.com"], ["b@example.com"]])
    report = await import_csv(store, path, dry_run=True)
    assert report.created == 2 and report.dry_run
    assert await store.collection("profiles").count_documents({}) == 0


async def test_a_large_file_is_streamed_in_batches(store: Database, tmp_path: Path) -> None:
    """A file far larger than a batch is imported in constant memory; duplicates found across batches."""
    path = tmp_path / "big.csv"
    padding = "x" * 400  # a column not imported, making the file large
    rows = 12_000
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["Id", "Email", "Notes"])
        for number in range(rows):
            writer.writerow([str(number), f"user{number}@example.com", padding])
        writer.writerow(["5", "user5@example.com", padding])  # duplicate of row 7, batches ago
    size = path.stat().st_size
    tracemalloc.start()
    try:
        report = await import_csv(store, path, batch_size=500)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (report.created, report.duplicate_count) == (rows, 1)
    assert report.duplicates[0].row == rows + 2
    assert report.duplicates[0].reason == "duplicate of row 7 (same record id '5')"
    assert await store.collection("profiles").count_documents({}) == rows
    assert peak < size / 2, f"peak {peak} bytes for a {size}-byte file: not streamed"
