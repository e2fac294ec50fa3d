"""``goodwill alerts``: recent alerts and their delivery; send a sample to check a destination.

An alert is ``pending`` (waiting, or retrying after Slack failed), ``sending``, ``sent`` (alone,
or in one message with others of a burst) or ``failed``; ``grouped`` is an older Goodwill's
mark for an alert delivered inside a group message.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from service.cli_common import echo, fail, printable, run_async, settings

__all__ = ["alerts_app"]

alerts_app = typer.Typer(
    help="Alerts to Slack: what was raised, what was delivered. Without a command: the recent ones."
)

_SAMPLES: dict[str, dict[str, Any]] = {
    "complaint": {
        "kind": "complaint",
        "text": "This is a sample complaint: my order arrived broken and nobody answers.",
        "sentiment": {"label": "negative", "score": 0.97},
        "complaint": {"score": 0.91, "category": "product", "kind": "complaint"},
        "who": {
            "name": "Sample Customer",
            "handle": "sample",
            "customer_tier": "enterprise",
            "value": 120000,
            "reach": 5400,
            "advocacy_tier": "detractor",
            "advocacy_score": -35.0,
        },
        "source": "sample",
    },
    "negative_spike": {
        "kind": "negative_spike",
        "count": 42,
        "expected": 6.5,
        "window": 1,
        "p_value": 1e-9,
        "model": "Poisson",
        "baseline": "same hour over 14 past days",
        "top_posts": [
            {"text": "A sample angry post.", "score": 0.98, "engagement": 120, "url": ""}
        ],
    },
    "tier_change": {
        "kind": "tier_change",
        "tier": "advocate",
        "previous_tier": "neutral",
        "score": 34.0,
        "mentions": 7,
        "who": {"name": "Sample Fan", "advocacy_tier": "advocate", "advocacy_score": 34.0},
    },
    "digest": {
        "kind": "digest",
        "totals": {"total": 120, "positive": 50, "neutral": 40, "negative": 30, "complaints": 9},
        "previous": {"total": 100, "positive": 45, "neutral": 35, "negative": 20, "complaints": 6},
        "top_complaints": [{"text": "A sample complaint.", "score": 0.9}],
        "new_advocates": [{"name": "Sample Fan", "score": 34.0}],
    },
    "emerging_theme": {
        "kind": "emerging_theme",
        "theme_id": "T1",
        "name": "refund · charged twice · card",
        "count": 14,
        "expected": 1.2,
        "p_value": 1e-8,
        "model": "Poisson",
        "baseline": "complaints per day over 14 past days",
        "top_posts": [{"text": "A sample complaint: charged twice, no refund.", "score": 0.9}],
    },
}


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if moment else "-"


@alerts_app.callback(invoke_without_command=True)
def recent(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="How many, newest first.", min=1)] = 20,
    state: Annotated[
        str | None,
        typer.Option(
            help="Only this state: pending, sending, sent, failed "
            "(or grouped: delivered in a group by an older Goodwill)."
        ),
    ] = None,
) -> None:
    """List recent alerts and their delivery state (newest first)."""
    if ctx.invoked_subcommand is not None:
        return
    from service.processes import open_store
    from store.outbox import STATES

    if state is not None and state not in STATES:
        raise fail(f"--state must be one of {', '.join(STATES)}; got {state!r}.")
    loaded = settings()

    async def fetch() -> tuple[list[dict[str, Any]], dict[str, int]]:
        async with open_store(loaded) as store:
            alerts = store.outbox
            rows = await alerts.recent(limit=limit, state=state)
            sizes = await alerts.message_sizes(
                str(row["message_id"]) for row in rows if row.get("message_id")
            )
            return rows, sizes

    rows, sizes = run_async(fetch)
    if not rows:
        echo("No alerts yet. Rules go in the watch list ([[alerts]]); `goodwill up` runs them.")
        return
    echo(
        f"{'raised (UTC)':16}  {'rule':18} {'brand':14} {'destination':14} {'state':8} "
        f"{'tries':>5}  summary"
    )
    for row in rows:
        summary = printable(str((row.get("payload") or {}).get("summary", ""))[:70])
        echo(
            f"{_when(row.get('created_at')):16}  {printable(row['rule'][:18]):18} "
            f"{printable(str(row.get('brand') or '-')[:14]):14} "
            f"{printable(row['destination'][:14]):14} "
            f"{row['state']:8} {row.get('attempts', 0):>5}  {summary}"
        )
        error = printable(row.get("last_error") or "")
        if row["state"] == "failed" and error:
            echo(f"    error: {error}")
        elif row["state"] == "pending" and error:
            echo(f"    retrying at {_when(row.get('next_attempt_at'))}: {error}")
        elif row["state"] == "sent" and sizes.get(str(row.get("message_id")), 1) > 1:
            others = sizes[str(row["message_id"])] - 1
            echo(f"    sent in one message with {others} other{'s' if others > 1 else ''}")
        elif row["state"] == "grouped":
            echo(f"    delivered in group {row.get('group_id')} (by an older Goodwill)")


@alerts_app.command("test")
def test_rule(
    rule: Annotated[str, typer.Argument(help="The name of a rule in the watch list's [[alerts]].")],
) -> None:
    """Send a sample alert of RULE to its destination, to check that the destination works."""
    import aiohttp

    from alerts.deliver import post
    from alerts.messages import render, validate_message
    from collector.jobs import build_jobs
    from config.alerting import Destination, resolve_destinations
    from config.watchlist import watchlist_from_settings
    from goodwill.errors import GoodwillError

    loaded = settings()
    try:
        watchlist = watchlist_from_settings(loaded)
        build_jobs(watchlist, settings=loaded)  # the sources' own checks, as every process makes
    except GoodwillError as error:
        raise fail(str(error)) from None
    rules = {each.name: each for each in watchlist.alerts}
    if rule not in rules:
        known = ", ".join(rules) or "none: add [[alerts]] rules to the watch list"
        raise fail(f"No alert rule is named {rule!r}. Rules: {known}.")
    chosen = rules[rule]
    try:
        resolved = resolve_destinations(
            {
                name: watchlist.destinations[name]
                for name in chosen.targets
                if name in watchlist.destinations
            },
            loaded,
        )
    except GoodwillError as error:
        raise fail(str(error)) from None
    brand = chosen.brands[0] if chosen.brands else watchlist.brands[0].name
    payload = {
        **_SAMPLES[chosen.rule],
        "brand": brand,
        "sample": True,
        "dashboard_url": loaded.dashboard_link,
        "summary": f"Sample {chosen.rule} alert of rule {rule} for {brand} (goodwill alerts test)",
    }
    message = render(payload)
    problems = validate_message(message)
    if problems:
        raise fail("The sample breaks Slack's limits: " + "; ".join(problems))

    for destination in (resolved[name] for name in chosen.targets):
        if destination.local:
            echo(
                f"{destination.name} is built in: the rule's alerts appear on the dashboard's "
                "Sources and alerts page (nothing to send)."
            )
            continue

        async def send(target: Destination = destination) -> Any:
            async with aiohttp.ClientSession() as session:
                return await post(session, target, message)

        outcome = run_async(send)
        if not outcome.ok:
            raise fail(f"Slack did not take the sample for {destination.name}: {outcome.error}")
        echo(f"Sent a sample {chosen.rule} alert to {destination.name} ({destination.kind}).")
