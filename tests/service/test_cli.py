"""The ``goodwill`` command line, run as a user runs it (a real process, a real database)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from store import Database
from tests.conftest import free_port


def goodwill(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``goodwill ARGS`` as a separate process and capture what it prints."""
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_help_lists_every_command(goodwill_env: dict[str, str]) -> None:
    """`goodwill --help` shows each subcommand, so they are discoverable."""
    result = goodwill("--help", env=goodwill_env)
    assert result.returncode == 0
    for command in ("up", "collect", "score", "sources", "doctor", "db", "model"):
        assert command in result.stdout


def test_a_bad_setting_is_named_without_a_traceback(goodwill_env: dict[str, str]) -> None:
    """An invalid GOODWILL_ variable stops the command with its name and what is expected."""
    result = goodwill("sources", env={**goodwill_env, "GOODWILL_DB_PORT": "eighty"})
    assert result.returncode == 1
    assert "GOODWILL_DB_PORT" in result.stderr and "integer" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_database_is_reported_with_what_to_do(goodwill_env: dict[str, str]) -> None:
    """A database that does not answer gives a message and exit 1, not a hang or a traceback."""
    env = {
        **goodwill_env,
        "GOODWILL_MONGODB_URI": f"mongodb://127.0.0.1:{free_port()}/?directConnection=true",
    }
    result = goodwill("sources", env=env, timeout=60)
    assert result.returncode == 1
    assert "does not answer" in result.stderr and "GOODWILL_MONGODB_URI" in result.stderr
    assert "Traceback" not in result.stderr


def test_collect_once_then_sources_shows_each_job(goodwill_env: dict[str, str]) -> None:
    """`collect --once` runs every replay job; `sources` then lists them with their counts."""
    collected = goodwill("collect", "--once", env=goodwill_env)
    assert collected.returncode == 0, collected.stderr
    assert collected.stdout.count("new") == 6
    listed = goodwill("sources", env=goodwill_env)
    assert listed.returncode == 0
    assert "JetBlue" in listed.stdout and "replay" in listed.stdout
    again = goodwill("collect", "--once", env=goodwill_env)
    # the second run only releases the few "live" tweets per brand
    assert all(" 5 new" in line or " 0 new" in line for line in again.stdout.splitlines())


def test_collect_names_the_jobs_when_a_filter_matches_none(goodwill_env: dict[str, str]) -> None:
    """`collect --brand X` with an unknown brand lists the jobs there are, and exits 1."""
    result = goodwill("collect", "--once", "--brand", "Nope", env=goodwill_env)
    assert result.returncode == 1
    assert "No job matches" in result.stderr and "replay:JetBlue" in result.stderr


def test_backfill_reports_progress_and_sources_shows_coverage(goodwill_env: dict[str, str]) -> None:
    """`backfill --since` runs under its own cursor with progress; `sources` shows state and counts."""
    result = goodwill("backfill", "--since", "30d", "--brand", "JetBlue", env=goodwill_env)
    assert result.returncode == 0, result.stderr
    assert "Back-filling to" in result.stdout and "page 1" in result.stderr
    listed = goodwill("sources", env=goodwill_env)
    line = next(line for line in listed.stdout.splitlines() if line.startswith("replay/backfill"))
    assert "JetBlue" in line and " ok " in line
    bad = goodwill("backfill", "--since", "a while", env=goodwill_env)
    assert bad.returncode == 2 and "expected an age like" in bad.stderr


def test_score_once_then_rescore_with_the_same_model_has_nothing_to_do(
    goodwill_env: dict[str, str],
) -> None:
    """`score --once` scores what was collected; `rescore` then finds nothing scored by another model."""
    assert (
        goodwill("collect", "--once", "--brand", "Virgin America", env=goodwill_env).returncode == 0
    )
    scored = goodwill("score", "--once", env=goodwill_env)
    assert scored.returncode == 0, scored.stderr
    count = int(scored.stdout.strip().splitlines()[-1].split()[1])
    assert count > 50
    rescored = goodwill("rescore", env=goodwill_env)
    assert rescored.returncode == 0, rescored.stderr
    assert "Re-scoring 0 mentions" in rescored.stdout and "Done: 0" in rescored.stdout


def test_classify_reads_lines_and_json_lines_and_keeps_every_line(
    goodwill_env: dict[str, str], tmp_path: Path
) -> None:
    """`classify` scores plain and JSON lines in order, passes fields through, and flags bad lines."""
    source = tmp_path / "texts.txt"
    source.write_text(
        "@united lost my bag again, third time this month\n"
        '{"id": 7, "text": "@JetBlue thanks for the smooth flight!"}\n'
        '{"id": 8}\n',
        encoding="utf-8",
    )
    out = tmp_path / "scored.jsonl"
    result = goodwill("classify", str(source), "-o", str(out), env=goodwill_env)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [row["line"] for row in rows] == [1, 2, 3]
    assert rows[0]["label"] == "negative" and rows[0]["complaint"] is True
    assert rows[0]["complaint_category"] == "delivery" and rows[0]["reasons"]
    assert rows[1]["id"] == 7 and rows[1]["label"] == "positive" and rows[1]["complaint"] is False
    assert set(rows[1]["probabilities"]) == {"negative", "neutral", "positive"}
    assert set(rows[0]["kinds"]) == {"complaint", "negative_opinion", "question", "other"}
    assert rows[0]["kinds"]["complaint"] >= 0.5 > rows[1]["kinds"]["complaint"]
    assert "error" in rows[2] and "label" not in rows[2]


def test_corrections_export_and_evaluate_with_none_yet(
    goodwill_env: dict[str, str], tmp_path: Path
) -> None:
    """With no corrections, export writes an empty file and evaluate says there is nothing to score."""
    out = tmp_path / "corrections.jsonl"
    exported = goodwill("corrections", "export", str(out), env=goodwill_env)
    assert exported.returncode == 0, exported.stderr
    assert "Wrote 0 examples" in exported.stdout and out.read_text() == ""
    evaluated = goodwill("corrections", "evaluate", env=goodwill_env)
    assert evaluated.returncode == 0, evaluated.stderr
    assert evaluated.stdout.strip()


async def test_sources_lists_only_the_windows_still_not_read(
    store: Database, goodwill_env: dict[str, str]
) -> None:
    """A window a later catch-up read is not listed; the one still open is, with the count."""
    now = datetime.now(UTC)
    await store.cursors.record_success("Acme", "reddit", {"n": 1}, 1, caught_up=True)
    await store.cursors.record_error(
        "Acme", "reddit", "SourceUnavailable: read after all", gap_since=now - timedelta(hours=5)
    )
    await store.cursors.record_success("Acme", "reddit", {"n": 2}, 1, caught_up=True)  # reads it
    await store.cursors.record_error(
        "Acme", "reddit", "RateLimited: still missing", gap_since=now - timedelta(hours=1)
    )
    listed = await asyncio.to_thread(goodwill, "sources", env=goodwill_env)
    assert listed.returncode == 0, listed.stderr
    assert "1 window not read:" in listed.stdout
    assert "RateLimited: still missing" in listed.stdout
    assert "read after all" not in listed.stdout
