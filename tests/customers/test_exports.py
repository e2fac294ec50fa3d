"""Advocate exports: who is in them, and cells that are safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

from openpyxl import load_workbook

from config.settings import load_settings
from customers.exports import (
    COLUMNS,
    AdvocateRow,
    advocate_rows,
    csv_bytes,
    escape_cell,
    write_csv,
    write_xlsx,
    xlsx_bytes,
)
from store import Database
from tests.factories import advocacy_doc, mention, profile_doc

EVIL = '=HYPERLINK("http://evil.example","click")'
WHEN = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)


async def seed_people(store: Database) -> dict[str, dict[str, object]]:
    """Four people for brand Acme: a consenting advocate, an unknown-consent advocate,
    a do-not-contact advocate, and a neutral; plus an advocate of another brand."""
    consenting = profile_doc(
        "ann", source="reddit", display_name=EVIL, emails=["ann@example.com"], do_not_contact=False
    )
    consenting["identities"].append(
        {
            **consenting["identities"][0],
            "key": "mastodon:ann@mastodon.social",
            "handle_key": "mastodon:ann@mastodon.social",
            "source": "mastodon",
            "handle": "@ann@mastodon.social",
            "url": "https://mastodon.social/@ann",
        }
    )
    unknown = profile_doc("bo", source="twitter", emails=["bo@example.com"], do_not_contact=None)
    opted_out = profile_doc("cy", emails=["cy@example.com"], do_not_contact=True)
    neutral = profile_doc("di", display_name="Di")
    people = {"ann": consenting, "bo": unknown, "cy": opted_out, "di": neutral}
    await store.collection("profiles").insert_many(list(people.values()))
    await store.collection("advocacy").insert_many(
        [
            advocacy_doc(
                consenting["_id"],
                score=80.5,
                mentions=7,
                last_mention_at=WHEN,
                last_mention_url="https://reddit.example/r/1",
            ),
            advocacy_doc(unknown["_id"], score=40.0, last_mention_at=WHEN - timedelta(days=200)),
            advocacy_doc(opted_out["_id"], score=95.0),
            advocacy_doc(neutral["_id"], score=10.0, tier="neutral"),
            advocacy_doc(unknown["_id"], brand="Globex", score=99.0),
        ]
    )
    return people


async def test_advocates_are_listed_by_score_without_do_not_contact(store: Database) -> None:
    """Only the brand's advocates, highest first; a do-not-contact profile never appears."""
    people = await seed_people(store)
    rows = await advocate_rows(store, "Acme")
    assert [row.handles for row in rows] == [
        "reddit:@ann; mastodon:@ann@mastodon.social",
        "twitter:@bo",
    ]
    first = rows[0]
    assert first == AdvocateRow(
        name=EVIL,
        handles="reddit:@ann; mastodon:@ann@mastodon.social",
        profile_urls="https://reddit.example/ann; https://mastodon.social/@ann",
        emails="ann@example.com",
        score=80.5,
        tier="advocate",
        mentions=7,
        last_mention_at=WHEN,
        last_mention_url="https://reddit.example/r/1",
    )
    assert rows[1].emails == ""  # consent not recorded: no email
    everyone = await advocate_rows(store, "Acme", min_score=0)
    assert [row.score for row in everyone] == [80.5, 40.0, 10.0]
    assert all("cy" not in row.handles for row in everyone)
    assert people["cy"]["do_not_contact"] is True


async def test_filters_since_source_and_threshold(store: Database) -> None:
    """--since keeps recent last mentions; --source needs a mention from it; settings set the bar."""
    people = await seed_people(store)
    recent = await advocate_rows(store, "Acme", since=WHEN - timedelta(days=1))
    assert [row.handles.split(";")[0] for row in recent] == ["reddit:@ann"]
    ours = mention(brand="Acme", source="twitter", handle="bo")
    await store.mentions.upsert([ours])
    await store.collection("mentions").update_one(
        {"external_id": ours.external_id}, {"$set": {"profile_id": people["bo"]["_id"]}}
    )
    from_twitter = await advocate_rows(store, "Acme", source="twitter")
    assert [row.handles for row in from_twitter] == ["twitter:@bo"]
    strict = await advocate_rows(store, "Acme", settings=load_settings(advocate_threshold=50))
    assert [row.score for row in strict] == [80.5]


async def test_csv_cells_are_escaped_and_numbers_stay_numbers(
    store: Database, tmp_path: Path
) -> None:
    """Cell by cell: a formula-like name gets a leading quote; scores are plain numbers."""
    await seed_people(store)
    rows = await advocate_rows(store, "Acme")
    path = tmp_path / "advocates.csv"
    assert write_csv(rows, path) == 2
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert raw == csv_bytes(rows)
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert table[0] == list(COLUMNS)
    assert table[1] == [
        "'" + EVIL,
        "reddit:@ann; mastodon:@ann@mastodon.social",
        "https://reddit.example/ann; https://mastodon.social/@ann",
        "ann@example.com",
        "80.5",
        "advocate",
        "7",
        "2025-03-01T12:30:00+00:00",
        "https://reddit.example/r/1",
    ]
    assert table[2][3] == ""
    assert "cy@example.com" not in raw.decode("utf-8-sig")
    for start in ("=", "+", "-", "@", "\t", "\r"):
        assert escape_cell(start + "x") == "'" + start + "x"
    assert escape_cell("plain") == "plain"


async def test_xlsx_strings_are_text_never_formulas(store: Database, tmp_path: Path) -> None:
    """Cell by cell in XLSX: strings are type 's' (even '=HYPERLINK'), numbers 'n', dates 'd'."""
    await seed_people(store)
    rows = await advocate_rows(store, "Acme")
    path = tmp_path / "advocates.xlsx"
    assert write_xlsx(rows, path) == 2
    sheet = load_workbook(path).active
    assert [cell.value for cell in sheet[1]] == list(COLUMNS)
    name, handles, urls, emails, score, tier, count, last, url = sheet[2]
    assert (name.value, name.data_type) == (EVIL, "s")
    assert (handles.value, handles.data_type) == ("reddit:@ann; mastodon:@ann@mastodon.social", "s")
    assert urls.data_type == "s" and emails.value == "ann@example.com"
    assert (score.value, score.data_type) == (80.5, "n")
    assert (tier.value, count.value, count.data_type) == ("advocate", 7, "n")
    assert (last.value, last.data_type) == (datetime(2025, 3, 1, 12, 30), "d")
    assert url.value == "https://reddit.example/r/1"
    assert sheet.max_row == 3
    assert sheet.cell(3, 4).value in (None, "")
    values = [str(cell.value) for row in sheet.iter_rows() for cell in row]
    assert not any("cy@example.com" in value or "@cy" in value for value in values)
    again = load_workbook(io.BytesIO(xlsx_bytes(rows))).active
    assert [c.value for c in again[2]] == [c.value for c in sheet[2]]
