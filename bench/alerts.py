"""Benchmark: latency from a complaint written to the database to its alert arriving in Slack.

Run from the repository root::

    .venv/bin/python -m bench.alerts [--complaints 1000] [--rate 20] [--baseline-interval 60]

A throwaway SecantusDB server and a Slack-compatible webhook receiver on 127.0.0.1. A
writer stores complaints as the scorer leaves them (scored, with the complaint verdict),
``--rate`` a second, spread evenly; each carries its write time. The alert engine and the
deliverer run as ``goodwill alert`` runs them (engine every ``--engine-interval`` s, deliverer
every ``--deliver-interval`` s, one message a second per webhook, bursts of more than 5 due
grouped into one message). The receiver stamps each message's arrival; a complaint's
latency is its arrival minus its write. Alerts in a group message count when the group
arrives.

The named baseline is the same pipeline run as a cron-style check: the engine evaluates
the rules every ``--baseline-interval`` seconds (60: a minutely cron job), over the same
complaints. Both tables give median, p95 and max in seconds, and how many arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import time
from datetime import timedelta
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import SecretStr

from alerts.deliver import Deliverer
from alerts.engine import AlertEngine
from bench._db import embedded_server
from config.alerting import AlertRuleConfig, Destination
from goodwill.models import utcnow
from store import Database

_MENTION = re.compile(r"mention=([0-9a-f]{24})")


class _Receiver:
    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.messages = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        now = time.monotonic()
        self.messages += 1
        for mention_id in _MENTION.findall(str(body)):
            self.arrived.setdefault(mention_id, now)
        return web.Response(text="ok")


async def _run(
    uri: str,
    database: str,
    *,
    complaints: int,
    rate: float,
    engine_interval: float,
    deliver_interval: float,
) -> tuple[list[float], int, int]:
    receiver = _Receiver()
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    store = await Database.open(uri, database)
    alerts = store.outbox
    written: dict[str, float] = {}
    rule = AlertRuleConfig.model_validate({"rule": "complaint", "destination": "slack"})
    engine = AlertEngine(
        alerts, [rule], brands=["Acme"], dashboard_link="http://goodwill.local",
        start_lookback=timedelta(seconds=5),
    )  # fmt: skip
    destination = Destination("slack", webhook_url=SecretStr(f"http://127.0.0.1:{port}/hook"))
    async with aiohttp.ClientSession() as session:
        deliverer = Deliverer(alerts, {"slack": destination}, session)
        tasks = [
            asyncio.create_task(engine.run_forever(interval=engine_interval)),
            asyncio.create_task(deliverer.run_forever(interval=deliver_interval)),
        ]
        mentions = store.collection("mentions")
        start = time.monotonic()
        for i in range(complaints):
            due = start + i / rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            now = utcnow()
            doc: dict[str, Any] = {
                "source": "bench",
                "external_id": f"c{i}",
                "brand": "Acme",
                "text": f"Complaint {i}: my order never arrived and nobody answers.",
                "author": {"id": f"u{i}", "handle": f"user{i}", "followers": 100},
                "created_at": now,
                "collected_at": now,
                "score_state": "scored",
                "sentiment": {"label": "negative", "score": 0.95, "model_version": "bench"},
                "complaint": {"is_complaint": True, "score": 0.9, "kind": "complaint"},
                "counted": {"label": "negative", "complaint": True},
                "scored_at": now,
            }
            result = await mentions.insert_one(doc)
            written[str(result.inserted_id)] = time.monotonic()
        deadline = time.monotonic() + max(engine_interval * 2 + 30, 60)
        while len(receiver.arrived) < complaints and time.monotonic() < deadline:  # noqa: ASYNC110  # also a deadline
            await asyncio.sleep(0.1)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    await runner.cleanup()
    await store.close()
    latencies = [receiver.arrived[m] - at for m, at in written.items() if m in receiver.arrived]
    return latencies, len(receiver.arrived), receiver.messages


def _row(name: str, latencies: list[float], arrived: int, total: int, messages: int) -> str:
    if not latencies:
        return f"{name:34} {'-':>8} {'-':>8} {'-':>8} {arrived:>5}/{total:<5} {messages:>8}"
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"{name:34} {statistics.median(ordered):8.2f} {p95:8.2f} {ordered[-1]:8.2f} "
        f"{arrived:>5}/{total:<5} {messages:>8}"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--complaints", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20.0, help="complaints written per second")
    parser.add_argument("--engine-interval", type=float, default=0.5)
    parser.add_argument("--deliver-interval", type=float, default=0.2)
    parser.add_argument(
        "--baseline-interval", type=float, default=60.0, help="cron-style check every N s; 0: skip"
    )
    args = parser.parse_args(argv)
    rows = []
    with embedded_server() as uri:
        variants = [
            (f"served (engine every {args.engine_interval:.1f}s)", args.engine_interval, "served")
        ]
        if args.baseline_interval > 0:
            variants.append(
                (
                    f"baseline: cron every {args.baseline_interval:.0f}s",
                    args.baseline_interval,
                    "cron",
                )
            )
        for name, interval, database in variants:
            latencies, arrived, messages = asyncio.run(
                _run(
                    uri,
                    database,
                    complaints=args.complaints,
                    rate=args.rate,
                    engine_interval=interval,
                    deliver_interval=args.deliver_interval,
                )
            )
            rows.append(_row(name, latencies, arrived, args.complaints, messages))
    print(
        f"{args.complaints} complaints written at {args.rate:g}/s; latency write -> arrival at the "
        "receiver, seconds"
    )
    print(f"{'variant':34} {'median':>8} {'p95':>8} {'max':>8} {'arrived':>11} {'messages':>8}")
    for row in rows:
        print(row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
