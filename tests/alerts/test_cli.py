"""`goodwill alerts`, `goodwill alerts test RULE` and `goodwill alert --once`, run as a user runs them."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from store import Database
from tests.alerts.conftest import Receiver, scored

WATCHLIST = """
[[brand]]
name = "Acme"
query = "acme"
  [[brand.source]]
  type = "replay"

[destinations.support]
webhook_env = "GOODWILL_SLACK_WEBHOOK_SUPPORT"

[[alerts]]
rule = "complaint"
name = "vip"
destination = "support"

[[alerts]]
rule = "negative_spike"
destination = "support"
"""


def goodwill(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _env(goodwill_env: dict[str, str], tmp_path: Path, receiver: Receiver) -> dict[str, str]:
    path = tmp_path / "watchlist.toml"
    path.write_text(WATCHLIST)
    return {
        **goodwill_env,
        "GOODWILL_WATCHLIST": str(path),
        "GOODWILL_SLACK_WEBHOOK_SUPPORT": receiver.url,
    }


async def test_alerts_test_sends_a_valid_sample_to_the_rules_destination(
    goodwill_env: dict[str, str], tmp_path: Path, receiver: Receiver
) -> None:
    """`goodwill alerts test vip` posts a sample to the webhook; an unknown rule is named."""
    env = _env(goodwill_env, tmp_path, receiver)
    sent = await asyncio.to_thread(goodwill, "alerts", "test", "negative_spike", env=env)
    assert sent.returncode == 0, sent.stderr
    assert "Sent a sample negative_spike alert to support" in sent.stdout
    assert len(receiver.received) == 1 and "Sample negative_spike" in receiver.texts()[0]
    receiver.answer("no_service")
    refused = await asyncio.to_thread(goodwill, "alerts", "test", "vip", env=env)
    assert refused.returncode == 1 and "404 no_service" in refused.stderr
    unknown = await asyncio.to_thread(goodwill, "alerts", "test", "nope", env=env)
    assert unknown.returncode == 1 and "vip, negative_spike" in unknown.stderr
    assert receiver.url not in refused.stderr + unknown.stderr  # the secret never shows


async def test_alert_once_delivers_and_alerts_lists_the_state(
    goodwill_env: dict[str, str], tmp_path: Path, receiver: Receiver, store: Database
) -> None:
    """`goodwill alert --once` raises and delivers a complaint; `goodwill alerts` lists it as sent."""
    env = _env(goodwill_env, tmp_path, receiver)
    empty = await asyncio.to_thread(goodwill, "alerts", env=env)
    assert empty.returncode == 0 and "No alerts yet" in empty.stdout
    await scored(store, "My Acme order never came")
    ran = await asyncio.to_thread(goodwill, "alert", "--once", env=env)
    assert ran.returncode == 0, ran.stderr
    assert "My Acme order never came" in str(receiver.received)
    listed = await asyncio.to_thread(goodwill, "alerts", env=env)
    assert listed.returncode == 0, listed.stderr
    assert (
        "vip" in listed.stdout
        and "sent" in listed.stdout
        and "Complaint about Acme" in listed.stdout
    )
    missing = await asyncio.to_thread(
        goodwill, "alert", "--once", env={**env, "GOODWILL_SLACK_WEBHOOK_SUPPORT": ""}
    )
    assert missing.returncode == 1 and "GOODWILL_SLACK_WEBHOOK_SUPPORT" in missing.stderr


async def test_alerts_says_which_were_sent_together_and_reads_an_older_goodwills_groups(
    goodwill_env: dict[str, str], tmp_path: Path, receiver: Receiver, store: Database
) -> None:
    """A burst's alerts show as "sent in one message with N others"; ``grouped`` still lists."""
    env = _env(goodwill_env, tmp_path, receiver)
    now = datetime.now(UTC)

    def alert(i: int, state: str, **extra: object) -> dict[str, object]:
        return {
            "dedupe_key": f"k{i}", "rule": "vip", "brand": "Acme", "destination": "support",
            "created_at": now - timedelta(minutes=i), "state": state, "attempts": 1,
            "payload": {"summary": f"Complaint number {i}"}, **extra,
        }  # fmt: skip

    await store.collection("alerts").insert_many(
        [alert(i, "sent", sent_at=now, message_id="m-burst") for i in range(3)]
        + [alert(3, "sent", sent_at=now, message_id="m-alone")]
        + [alert(4, "grouped", group_id="6b0000000000000000000001")]
    )
    listed = await asyncio.to_thread(goodwill, "alerts", env=env)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count("sent in one message with 2 others") == 3
    assert "delivered in group 6b0000000000000000000001 (by an older Goodwill)" in listed.stdout
    only = await asyncio.to_thread(goodwill, "alerts", "--state", "grouped", env=env)
    assert only.returncode == 0 and "Complaint number 4" in only.stdout
    assert "Complaint number 0" not in only.stdout


async def test_alert_once_keeps_dashboard_alerts_with_no_slack_set(
    goodwill_env: dict[str, str], tmp_path: Path, receiver: Receiver, store: Database
) -> None:
    """A watch list whose rules go to ``dashboard`` runs with no Slack variable: `goodwill alert
    --once` keeps the complaint, sent; `alerts test` says the dashboard needs no check and
    still checks the rule's Slack destination."""
    path = tmp_path / "watchlist.toml"
    path.write_text(
        WATCHLIST.split("[destinations.support]")[0]
        + '[[alerts]]\nrule = "complaint"\nname = "local"\ndestination = "dashboard"\n'
    )
    env = {**goodwill_env, "GOODWILL_WATCHLIST": str(path)}
    env.pop("GOODWILL_SLACK_WEBHOOK_URL", None)
    await scored(store, "My Acme order never came")
    ran = await asyncio.to_thread(goodwill, "alert", "--once", env=env)
    assert ran.returncode == 0, ran.stderr
    (kept,) = await store.outbox.recent()
    assert (kept["destination"], kept["state"]) == ("dashboard", "sent")
    assert "My Acme order never came" in str(kept["message"])
    checked = await asyncio.to_thread(goodwill, "alerts", "test", "local", env=env)
    assert checked.returncode == 0, checked.stderr
    assert "dashboard is built in" in checked.stdout and receiver.received == []
    both = WATCHLIST + '[[alerts]]\nrule = "tier_change"\nname = "both"\n'
    path.write_text(both + 'destination = ["support", "dashboard"]\n')
    env["GOODWILL_SLACK_WEBHOOK_SUPPORT"] = receiver.url
    checked = await asyncio.to_thread(goodwill, "alerts", "test", "both", env=env)
    assert checked.returncode == 0, checked.stderr
    assert "Sent a sample tier_change alert to support" in checked.stdout
    assert "dashboard is built in" in checked.stdout and len(receiver.received) == 1
