"""Delivery of the outbox to Slack: leased, ordered, rate-limited, retried, grouped under bursts.

A ``Deliverer`` claims the due alerts at the head of each destination's queue (oldest
first; see ``AlertStore.claim_due``) and posts each as a Block Kit message:

* 200 (webhook ``ok``; Web API ``"ok": true``): ``sent``.
* Network errors, timeouts and 5xx: retried with exponential back-off (``backoff`` doubling
  up to ``max_backoff``), for as long as ``give_up_after``; the queue waits behind it, so
  alerts arrive in the order they were raised.
* 429: retried after its ``Retry-After``; the destination sends nothing before then.
* 400 ``invalid_payload``, 403, 404 ``no_service``, 410 and other refusals: ``failed`` with
  the error (logged), never retried: sending again would fail again.

Retries are state in MongoDB (``next_attempt_at``), not a loop in memory: an alert raised
while Slack is down arrives when it is back, across restarts of this process, once.
At most ``rate`` messages a second go to one destination (Slack allows about one per
webhook); when more than ``group_above`` alerts are due at once they go as one message
listing them all (the others become ``grouped``, with the group's id), never dropped.
Quiet hours of a destination hold its alerts back until they end.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from alerts.messages import render, render_group, validate_message
from config.alerting import Destination
from goodwill.errors import StoreError
from goodwill.models import utcnow
from goodwill.outbox import AlertStore, Lease

__all__ = ["Deliverer", "Outcome", "post"]

log = logging.getLogger(__name__)

Document = dict[str, Any]
# Web API errors worth retrying; every other error is the request's fault.
_TRANSIENT_API_ERRORS = {
    "ratelimited", "fatal_error", "internal_error", "service_unavailable", "request_timeout",
}  # fmt: skip


@dataclass(frozen=True)
class Outcome:
    """What Slack made of one message."""

    ok: bool
    permanent: bool = False
    retry_after: float | None = None
    error: str = ""


def _retry_after(headers: Mapping[str, str], default: float) -> float:
    try:
        return max(0.0, float(headers.get("Retry-After", default)))
    except ValueError:
        return default


async def post(
    session: aiohttp.ClientSession,
    destination: Destination,
    message: Mapping[str, Any],
    *,
    timeout: float = 10.0,  # noqa: ASYNC109  # aiohttp's per-request timeout, not a cancel scope
) -> Outcome:
    """Post ``message`` to ``destination`` (webhook, or ``chat.postMessage`` with the bot token).

    Never raises for what Slack or the network does; the error never shows the webhook URL
    or the token.
    """
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    try:
        if destination.channel is not None and destination.token is not None:
            body = {"channel": destination.channel, **message}
            headers = {"Authorization": f"Bearer {destination.token.get_secret_value()}"}
            async with session.post(
                f"{destination.api_url}/chat.postMessage", json=body, headers=headers,
                timeout=client_timeout,
            ) as response:  # fmt: skip
                return await _api_outcome(response)
        if destination.webhook_url is None:
            return Outcome(False, permanent=True, error="the destination has no webhook URL")
        async with session.post(
            destination.webhook_url.get_secret_value(), json=message, timeout=client_timeout
        ) as response:
            text = (await response.text())[:300]
            if response.status == 200:
                return Outcome(True)
            return _http_outcome(response.status, response.headers, text)
    except TimeoutError:
        return Outcome(False, error=f"no answer within {timeout:.0f} s")
    except aiohttp.ClientError as error:
        return Outcome(False, error=f"network error ({type(error).__name__})")


def _http_outcome(status: int, headers: Mapping[str, str], text: str) -> Outcome:
    if status == 429:
        return Outcome(False, retry_after=_retry_after(headers, 30.0), error="429 rate limited")
    if status >= 500:
        return Outcome(False, error=f"{status} {text}".strip())
    return Outcome(False, permanent=True, error=f"{status} {text}".strip())


async def _api_outcome(response: aiohttp.ClientResponse) -> Outcome:
    if response.status != 200:
        return _http_outcome(response.status, response.headers, (await response.text())[:300])
    try:
        answer = await response.json(content_type=None)
    except ValueError:
        return Outcome(False, error="200 with a body that is not JSON")
    if isinstance(answer, dict) and answer.get("ok") is True:
        return Outcome(True)
    error = str(answer.get("error") if isinstance(answer, dict) else answer)
    if error == "ratelimited":
        return Outcome(False, retry_after=_retry_after(response.headers, 30.0), error=error)
    return Outcome(False, permanent=error not in _TRANSIENT_API_ERRORS, error=error)


class Deliverer:
    """Delivers the outbox to the destinations it knows."""

    def __init__(
        self,
        alerts: AlertStore,
        destinations: Mapping[str, Destination],
        session: aiohttp.ClientSession,
        *,
        owner: str | None = None,
        rate: float = 1.0,
        group_above: int = 5,
        group_max: int = 100,
        backoff: float = 2.0,
        max_backoff: float = 300.0,
        give_up_after: timedelta = timedelta(days=2),
        lease: timedelta = timedelta(minutes=2),
        timeout: float = 10.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.alerts = alerts
        self.destinations = dict(destinations)
        self.session = session
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        self.interval = 1.0 / rate
        self.group_above = group_above
        self.group_max = group_max
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.give_up_after = give_up_after
        self.lease = lease
        self.timeout = timeout
        self.clock = clock
        self._next_send: dict[str, datetime] = {}
        self._unknown: set[str] = set()

    async def deliver_once(self) -> int:
        """One pass over every destination with due alerts; returns messages delivered."""
        names = await self.alerts.open_destinations()
        for name in names:
            if name not in self.destinations and name not in self._unknown:
                self._unknown.add(name)
                log.warning(
                    "alerts wait for destination %r, which the watch list does not define", name
                )
        counts = await asyncio.gather(
            *(self._deliver(name) for name in names if name in self.destinations)
        )
        return sum(counts)

    async def run_forever(self, *, interval: float = 1.0, max_backoff: float = 60.0) -> None:
        """Deliver every ``interval`` seconds; wait out database outages."""
        wait = 1.0
        while True:
            try:
                await self.deliver_once()
                wait = 1.0
                await asyncio.sleep(interval)
            except StoreError as error:
                log.warning("database unreachable (%s); retrying in %.0f s", error, wait)
                await asyncio.sleep(wait)
                wait = min(wait * 2, max_backoff)

    async def _deliver(self, name: str) -> int:
        destination = self.destinations[name]
        now = self.clock()
        lease = await self.alerts.claim_due(
            name, self.owner, now=now, lease=self.lease, limit=self.group_max
        )
        if lease is None or not lease.alerts:
            return 0
        ids = [alert["_id"] for alert in lease.alerts]
        quiet_until = destination.quiet.until(now) if destination.quiet else None
        if quiet_until is not None:
            await self.alerts.release(ids, lease.token, quiet_until)
            return 0
        queue = lease.alerts
        if len(queue) > self.group_above:
            payload = {
                "kind": "group",
                "items": [
                    {
                        "summary": alert["payload"].get("summary", alert["rule"]),
                        "dashboard_url": alert["payload"].get("dashboard_url", ""),
                        "alert_id": str(alert["_id"]),
                        "mention_id": alert["payload"].get("mention_id"),
                    }
                    for alert in queue
                ],
                "summary": f"{len(queue)} alerts",
            }
            queue = [await self.alerts.group(queue, lease.token, payload, now)]
            log.info("grouped %d alerts for %s into one message", len(ids), name)
        return await self._send_in_order(destination, lease, queue)

    async def _send_in_order(
        self, destination: Destination, lease: Lease, queue: list[Document]
    ) -> int:
        sent = 0
        for position, alert in enumerate(queue):
            wait = (
                self._next_send.get(destination.name, self.clock()) - self.clock()
            ).total_seconds()
            if wait > 0:
                await asyncio.sleep(wait)
            payload = alert["payload"]
            message = (
                render_group(payload["items"])
                if payload.get("kind") == "group"
                else render(payload)
            )
            problems = validate_message(message)
            if problems:
                error = "message breaks Slack's limits: " + "; ".join(problems[:3])
                log.error("alert %s failed: %s", alert["_id"], error)
                await self.alerts.mark_failed(alert["_id"], lease.token, error)
                continue
            outcome = await post(self.session, destination, message, timeout=self.timeout)
            now = self.clock()
            self._next_send[destination.name] = now + timedelta(seconds=self.interval)
            if outcome.ok:
                await self.alerts.mark_sent(alert["_id"], lease.token, now)
                sent += 1
                continue
            if outcome.permanent:
                log.error(
                    "Slack refused alert %s for %s: %s",
                    alert["_id"],
                    destination.name,
                    outcome.error,
                )
                await self.alerts.mark_failed(alert["_id"], lease.token, outcome.error)
                continue
            if now - alert["created_at"] > self.give_up_after:
                error = f"gave up after {alert.get('attempts', 0) + 1} attempts: {outcome.error}"
                log.error("alert %s failed: %s", alert["_id"], error)
                await self.alerts.mark_failed(alert["_id"], lease.token, error)
                continue
            if outcome.retry_after is not None:
                delay = outcome.retry_after
                self._next_send[destination.name] = now + timedelta(seconds=delay)
            else:
                delay = min(self.backoff * 2 ** int(alert.get("attempts", 0)), self.max_backoff)
            log.warning(
                "alert %s to %s not delivered (%s); retrying in %.1f s",
                alert["_id"], destination.name, outcome.error, delay,
            )  # fmt: skip
            at = now + timedelta(seconds=delay)
            await self.alerts.mark_retry(alert["_id"], lease.token, at, outcome.error)
            # The rest wait behind it (first in, first out).
            rest = [later["_id"] for later in queue[position + 1 :]]
            if rest:
                await self.alerts.release(rest, lease.token, now)
            break
        return sent
