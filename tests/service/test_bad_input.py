"""Bad input and hostile data on the command line: one clear line, no traceback, nothing lost.

Each test runs ``goodwill`` as a user runs it (a real process, the session's real database).
"""

from __future__ import annotations

import csv
import gzip
import json
import logging
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from tests.factories import advocacy_doc, profile_doc

# What a hostile display name or post may hold: retitle the window, ring, clear the screen,
# an 8-bit CSI, and a right-to-left override that reverses what follows it on screen.
HOSTILE = "\x1b]0;pwned\x07Eve\x1b[2J\x9b31m\u202e"
SHOWN = "\\x1b]0;pwned\\x07Eve\\x1b[2J\\x9b31m\\u202e"
RAW = ("\x1b", "\x07", "\x9b", "\u202e")


def goodwill(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``goodwill ARGS`` as a separate process and capture what it prints."""
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def one_clear_line(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    """The single line a failed command printed on stderr (asserting there is only that)."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def db(mongodb_uri: str, database_name: str) -> Iterator[Database[dict[str, Any]]]:
    """The test database, through a plain synchronous client (to seed and inspect)."""
    with MongoClient[dict[str, Any]](mongodb_uri, tz_aware=True) as client:
        yield client[database_name]
        client.drop_database(database_name)


def write_rows(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as file:
        csv.writer(file).writerows(rows)
    return path


# -- 1. an import does not bring an erased person back ----------------------------------------


def test_an_import_does_not_bring_back_an_erased_person(
    goodwill_env: dict[str, str], db: Database[dict[str, Any]], tmp_path: Path
) -> None:
    """After `profiles erase`, rows with their email or CRM id are rejected and no profile is made."""
    bob = profile_doc(
        "bob_the_fan", display_name="Bobby", emails=["bob@example.com"], crm_id="HS-7"
    )
    db.profiles.insert_one(bob)
    erased = goodwill(
        "profiles", "erase", "bob@example.com", "--yes", "--by", "dpo", env=goodwill_env
    )
    assert erased.returncode == 0, erased.stderr
    path = write_rows(
        tmp_path / "hubspot.csv",
        [
            ["Record ID", "Email", "First Name"],
            ["", "Bob@Example.com", "Bob"],  # row 2: the erased email
            ["HS-7", "", "Robert"],  # row 3: the erased CRM record
            ["8", "new@example.com", "Nina"],  # row 4: someone else
        ],
    )
    for extra in (["--dry-run"], []):
        result = goodwill("profiles", "import", str(path), *extra, env=goodwill_env)
        assert result.returncode == 0, result.stderr
        assert "created:    1" in result.stdout and "rejected:   2" in result.stdout
        assert "row 2: erased on request; not imported" in result.stdout
        assert "row 3: erased on request; not imported" in result.stdout
    assert [doc["emails"] for doc in db.profiles.find({})] == [["new@example.com"]]
    everything = json.dumps(
        [list(db[name].find({})) for name in db.list_collection_names()], default=str
    )
    for secret in ("bob@example.com", "Bobby", "Robert", "HS-7"):
        assert secret not in everything, f"{secret!r} is back"


# -- 2. an encoding that is none, a file that is compressed ----------------------------------


def test_an_unknown_or_non_text_encoding_is_one_line_naming_it(
    goodwill_env: dict[str, str], tmp_path: Path
) -> None:
    """`--encoding rot13` (a codec, not a text encoding) or `nope` names itself; no traceback."""
    path = write_rows(tmp_path / "people.csv", [["Email"], ["ann@example.com"]])
    for encoding in ("rot13", "nope"):
        result = goodwill("profiles", "import", str(path), "--encoding", encoding, env=goodwill_env)
        line = one_clear_line(result)
        assert f"--encoding {encoding!r} is not a text encoding" in line and "utf-8" in line


def test_a_compressed_file_says_so_and_how_to_proceed(
    goodwill_env: dict[str, str], db: Database[dict[str, Any]], tmp_path: Path
) -> None:
    """A gzip or zip file is named as such with what to do, not blamed on its encoding."""
    plain = write_rows(tmp_path / "people.csv", [["Email"], ["ann@example.com"]])
    packed = tmp_path / "people.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    archive = tmp_path / "people.zip"
    with zipfile.ZipFile(archive, "w") as file:
        file.write(plain, "people.csv")
    for path, what, how in (
        (packed, "gzip-compressed", "decompress it first"),
        (archive, "a zip archive", "unzip it first"),
    ):
        line = one_clear_line(goodwill("profiles", "import", str(path), env=goodwill_env))
        assert f"{path} is {what}, not CSV; {how}" in line and "cp1252" not in line
    assert db.profiles.count_documents({}) == 0


# -- 3. --since further back than any date ----------------------------------------------------

TOO_FAR = ("1000000000d", "999999999d", "800000d")


@pytest.mark.parametrize(
    "command",
    [
        ("backfill",),
        ("rescore",),
        ("export", "advocates", "--brand", "Acme", "-o", "advocates.csv"),
    ],
    ids=["backfill", "rescore", "export-advocates"],
)
def test_since_further_back_than_year_one_is_one_line(
    command: tuple[str, ...], goodwill_env: dict[str, str], tmp_path: Path
) -> None:
    """`--since 800000d` and beyond say how far back one may go, for each command taking it."""
    for since in TOO_FAR:
        result = subprocess.run(
            [sys.executable, "-m", "service.cli", *command, "--since", since],
            env=goodwill_env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        line = one_clear_line(result, code=2)
        assert f"--since {since} is further back than year 1; give at most" in line
    assert not (tmp_path / "advocates.csv").exists()


def test_since_takes_a_date_too(
    goodwill_env: dict[str, str], db: Database[dict[str, Any]], tmp_path: Path
) -> None:
    """`--since 2020-01-01` is a date; one in the future is refused in one line."""
    ann = profile_doc("ann", display_name="Ann")
    db.profiles.insert_one(ann)
    db.mentions.insert_one({"source": "replay", "external_id": "1", "brand": "Acme", "text": "hi"})
    db.advocacy.insert_one(
        advocacy_doc(ann["_id"], score=60, last_mention_at=datetime(2021, 5, 1, tzinfo=UTC))
    )
    out = tmp_path / "advocates.csv"
    args = ("export", "advocates", "--brand", "Acme", "-o", str(out), "--since")
    kept = goodwill(*args, "2021-01-01", env=goodwill_env)
    assert kept.returncode == 0, kept.stderr
    assert "Wrote 1 Acme advocates" in kept.stdout
    later = goodwill(*args, "2021-06-01", env=goodwill_env)
    assert "Wrote 0 Acme advocates" in later.stdout
    line = one_clear_line(goodwill(*args, "2999-01-01", env=goodwill_env), code=2)
    assert "--since 2999-01-01 is in the future" in line


# -- 4. an unknown brand ----------------------------------------------------------------------


def test_export_of_an_unknown_brand_lists_the_known_ones_and_writes_nothing(
    goodwill_env: dict[str, str], db: Database[dict[str, Any]], tmp_path: Path
) -> None:
    """`export advocates --brand Nope` fails naming the brands with mentions; no file appears."""
    db.mentions.insert_many(
        [
            {"source": "replay", "external_id": "1", "brand": "Acme", "text": "hi"},
            {"source": "replay", "external_id": "2", "brand": "Globex", "text": "hi"},
        ]
    )
    out = tmp_path / "advocates.csv"
    line = one_clear_line(
        goodwill("export", "advocates", "--brand", "Nope", "-o", str(out), env=goodwill_env)
    )
    assert "No brand is named 'Nope'" in line and "Acme, Globex" in line
    assert not out.exists()
    known = goodwill("export", "advocates", "--brand", "Globex", "-o", str(out), env=goodwill_env)
    assert known.returncode == 0, known.stderr
    assert "Wrote 0 Globex advocates" in known.stdout and out.exists()


# -- 5. control characters in names and posts never reach the terminal raw -------------------


def assert_escaped(text: str) -> None:
    """No raw control character in ``text``, and the hostile name shown as escapes."""
    assert SHOWN in text, text
    for raw in RAW:
        assert raw not in text


def test_profile_show_and_list_print_escapes_not_control_characters(
    goodwill_env: dict[str, str], db: Database[dict[str, Any]]
) -> None:
    """A display name holding terminal escapes is shown as visible escapes by show and list."""
    eve = profile_doc(
        "eve", display_name=HOSTILE, emails=["eve@example.com"], crm_fields={"note": HOSTILE}
    )
    db.profiles.insert_one(eve)
    db.advocacy.insert_one(advocacy_doc(eve["_id"]))
    shown = goodwill("profiles", "show", eve["_id"], env=goodwill_env)
    assert shown.returncode == 0, shown.stderr
    assert_escaped(shown.stdout)
    assert shown.stdout.count(SHOWN) == 2  # the name and the CRM field
    listed = goodwill("profiles", "list", "--brand", "Acme", env=goodwill_env)
    assert listed.returncode == 0, listed.stderr
    assert_escaped(listed.stdout)
    erase = subprocess.run(
        [sys.executable, "-m", "service.cli", "profiles", "erase", eve["_id"]],
        env=goodwill_env,
        input="n\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert erase.returncode == 1 and "Erase profile" in erase.stdout
    assert_escaped(erase.stdout)
    assert db.profiles.count_documents({"_id": eve["_id"]}) == 1


def test_export_data_json_escapes_what_a_terminal_obeys_and_keeps_the_data(
    goodwill_env: dict[str, str], db: Database[dict[str, Any]]
) -> None:
    """`export-data` writes C1 controls and overrides as \\u escapes: same JSON, harmless text."""
    eve = profile_doc("eve", display_name=HOSTILE)
    db.profiles.insert_one(eve)
    result = goodwill("profiles", "export-data", eve["_id"], env=goodwill_env)
    assert result.returncode == 0, result.stderr
    for raw in RAW:
        assert raw not in result.stdout
    assert json.loads(result.stdout)["profile"]["display_name"] == HOSTILE


def test_alerts_sources_and_import_reports_print_escapes(
    goodwill_env: dict[str, str], db: Database[dict[str, Any]], tmp_path: Path
) -> None:
    """Alerts' summaries and errors, a source's last error and an import's problems are sanitised."""
    db.cursors.insert_one(
        {"brand": "Acme", "source": "replay", "collected": 0, "last_error": HOSTILE}
    )
    sources = goodwill("sources", env=goodwill_env)
    assert sources.returncode == 0, sources.stderr
    assert_escaped(sources.stdout)
    db.alerts.insert_one(
        {
            "dedupe_key": "a1",
            "rule": "complaints",
            "brand": "Acme",
            "destination": "slack",
            "created_at": datetime.now(UTC),
            "payload": {"summary": HOSTILE},
            "state": "failed",
            "attempts": 1,
            "last_error": HOSTILE,
        }
    )
    alerts = goodwill("alerts", env=goodwill_env)
    assert alerts.returncode == 0, alerts.stderr
    assert_escaped(alerts.stdout)
    assert alerts.stdout.count(SHOWN) == 2
    path = write_rows(
        tmp_path / "people.csv",
        [["Email", "Twitter"], ["a@example.com", HOSTILE], ["b@example.com", HOSTILE]],
    )
    imported = goodwill("profiles", "import", str(path), env=goodwill_env)
    assert imported.returncode == 0, imported.stderr
    assert "row 3: duplicate of row 2 (same handle twitter:" in imported.stdout
    for raw in RAW:
        assert raw not in imported.stdout


# A post as hostile as a name: clear the screen, a C0 ring, an 8-bit CSI, DEL, an override.
HOSTILE_POST = "Acme lost my bag \x1b[2J\x07\x9b31m\x7f\u202e again"


def test_classify_and_profile_show_print_a_hostile_post_escaped(
    goodwill_env: dict[str, str], db: Database[dict[str, Any]], tmp_path: Path
) -> None:
    """`classify` on a terminal writes controls as JSON escapes; `profiles show` lists the post escaped."""
    source = tmp_path / "posts.txt"
    source.write_text(HOSTILE_POST + "\n", encoding="utf-8")
    classified = goodwill("classify", str(source), env=goodwill_env)
    assert classified.returncode == 0, classified.stderr
    for raw in ("\x1b", "\x07", "\x9b", "\x7f", "\u202e"):
        assert raw not in classified.stdout and raw not in classified.stderr, repr(raw)
    assert json.loads(classified.stdout)["text"] == HOSTILE_POST
    eve = profile_doc("eve", display_name="Eve")
    db.profiles.insert_one(eve)
    db.mentions.insert_one(
        {
            "source": "replay",
            "external_id": "h1",
            "brand": "Acme",
            "text": HOSTILE_POST,
            "profile_id": eve["_id"],
            "created_at": datetime.now(UTC),
            "score_state": "pending",
        }
    )
    shown = goodwill("profiles", "show", eve["_id"], env=goodwill_env)
    assert shown.returncode == 0, shown.stderr
    assert "\\x1b[2J\\x07\\x9b31m\\x7f\\u202e again" in shown.stdout, shown.stdout
    for raw in ("\x1b", "\x07", "\x9b", "\x7f", "\u202e"):
        assert raw not in shown.stdout


def test_log_lines_on_stderr_are_printable() -> None:
    """What a command logs (a source's error quoting its answer) reaches stderr escaped."""
    from service.cli_common import _PrintableFormatter

    record = logging.LogRecord(
        "collector", logging.WARNING, __file__, 1, "failed: %s", (HOSTILE,), None
    )
    line = _PrintableFormatter("%(levelname)s %(message)s").format(record)
    assert line == f"WARNING failed: {SHOWN}"
