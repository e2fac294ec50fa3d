"""Delivery of the outbox to Slack (leased, ordered, rate-limited, retried, grouped under
bursts) and to the built-in dashboard destination.

A ``Deliverer`` claims the due alerts at the head of each destination's queue (oldest
first; see ``Outbox.claim_due``) and posts them as Block Kit messages; what Slack
answers decides the state of every alert in the message:

* 200 (webhook ``ok``; Web API ``"ok": true``): ``sent``, with the message's ``message_id``.
* Network errors, timeouts and 5xx: retried with exponential back-off (``backoff`` doubling
  up to ``max_backoff``), for as long as ``give_up_after``; the queue waits behind it, so
  alerts arrive in the order they were raised.
* 429: retried after its ``Retry-After``; the destination sends nothing before then.
* 400 ``invalid_payload``, 403, 404 ``no_service``, 410 and other refusals: ``failed`` with
  the error (logged), never retried: sending again would fail again.

Retries are state in MongoDB (``next_attempt_at``), not a loop in memory: an alert raised
while Slack is down arrives when it is back, across restarts of this process, once.
At most ``rate`` messages a second go to one destination (Slack allows about one per
webhook). When more than ``group_above`` alerts are due at once (a burst, or the backlog
of an outage) they go as one message listing each of them, in queue order, with its
summary, its dashboard link and its post's link. A group is only that message: its
alerts keep their own documents and are marked together (all ``sent`` with one
``message_id``, all back to ``pending`` with one retry time, or all ``failed``). Where the
list breaks Slack's limits the message holds the longest run from the head that fits and
the rest wait, due at once, for the next message: an alert is marked sent only by a
message that shows it. Quiet hours of a destination hold its alerts back until they end.

The built-in ``dashboard`` destination (``Destination.local``) is never posted to: each of
its alerts is rendered as the same message Slack would get, kept with the alert in the
outbox, and marked ``sent`` at once (no HTTP, no webhook, no rate limit, no grouping);
the dashboard's Sources and alerts page shows them.
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
from bson import ObjectId

from alerts.messages import fitting_group, render, render_group, validate_message
from config.alerting import Destination
from goodwill.models import utcnow
from goodwill.retry import run_passes
from store.outbox import Lease, Outbox

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
        alerts: Outbox,
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
        """Deliver every ``interval`` seconds; wait out database outages.

        A pass the database fails is tried again after 1 s, 2 s, 4 s ... up to
        ``max_backoff``, for as long as it takes; the next pass starts the waits over.
        """
        await run_passes(self.deliver_once, every=interval, log=log, max_backoff=max_backoff)

    async def _deliver(self, name: str) -> int:
        destination = self.destinations[name]
        now = self.clock()
        lease = await self.alerts.claim_due(
            name, self.owner, now=now, lease=self.lease, limit=self.group_max
        )
        if lease is None or not lease.alerts:
            return 0
        queue = lease.alerts
        if destination.local:
            return await self._keep(lease, queue)
        quiet_until = destination.quiet.until(now) if destination.quiet else None
        if quiet_until is not None:
            await self.alerts.release([alert["_id"] for alert in queue], lease.token, quiet_until)
            return 0
        if len(queue) > self.group_above:
            fits = fitting_group([alert["payload"] for alert in queue])
            if fits > 1:
                return await self._send_group(destination, lease, queue, fits)
        return await self._send_in_order(destination, lease, queue)

    async def _keep(self, lease: Lease, queue: list[Document]) -> int:
        """Deliver to the dashboard: each alert's message kept with it, marked sent now."""
        for alert in queue:
            await self.alerts.mark_sent(
                [alert["_id"]],
                lease.token,
                message_id=str(ObjectId()),
                now=self.clock(),
                message=render(alert["payload"]),
            )
        return len(queue)

    async def _send_group(
        self, destination: Destination, lease: Lease, queue: list[Document], fits: int
    ) -> int:
        """Send the first ``fits`` alerts of ``queue`` as one message; the rest wait behind it."""
        members, rest = queue[:fits], [alert["_id"] for alert in queue[fits:]]
        message = render_group([alert["payload"] for alert in members])
        log.info(
            "sending %d alerts to %s in one message%s",
            len(members),
            destination.name,
            f" ({len(rest)} more did not fit and follow)" if rest else "",
        )
        sent, retry_at = await self._post(destination, lease, members, message)
        await self.alerts.release(rest, lease.token, retry_at or self.clock())
        return int(sent)

    async def _send_in_order(
        self, destination: Destination, lease: Lease, queue: list[Document]
    ) -> int:
        """Send ``queue`` one message per alert; after a transient failure the rest wait."""
        sent = 0
        for position, alert in enumerate(queue):
            message = render(alert["payload"])
            problems = validate_message(message)
            if problems:
                error = "message breaks Slack's limits: " + "; ".join(problems[:3])
                log.error("alert %s failed: %s", alert["_id"], error)
                await self.alerts.mark_failed([alert["_id"]], lease.token, error)
                continue
            delivered, retry_at = await self._post(destination, lease, [alert], message)
            sent += delivered
            if retry_at is None:
                continue
            # The rest wait behind it (first in, first out).
            rest = [later["_id"] for later in queue[position + 1 :]]
            await self.alerts.release(rest, lease.token, retry_at)
            break
        return sent

    async def _post(
        self,
        destination: Destination,
        lease: Lease,
        members: list[Document],
        message: Mapping[str, Any],
    ) -> tuple[bool, datetime | None]:
        """Post one message of ``members`` and mark them all by Slack's answer.

        Returns whether Slack took it, and when the members are due again after a transient
        failure (None: sent, or failed for good).
        """
        wait = (self._next_send.get(destination.name, self.clock()) - self.clock()).total_seconds()
        if wait > 0:
            await asyncio.sleep(wait)
        outcome = await post(self.session, destination, message, timeout=self.timeout)
        now = self.clock()
        self._next_send[destination.name] = now + timedelta(seconds=self.interval)
        ids = [alert["_id"] for alert in members]
        what = f"alert {ids[0]}" if len(ids) == 1 else f"{len(ids)} alerts from {ids[0]}"
        if outcome.ok:
            await self.alerts.mark_sent(ids, lease.token, message_id=str(ObjectId()), now=now)
            return True, None
        if outcome.permanent:
            log.error("Slack refused %s for %s: %s", what, destination.name, outcome.error)
            await self.alerts.mark_failed(ids, lease.token, outcome.error)
            return False, None
        expired = [alert for alert in members if now - alert["created_at"] > self.give_up_after]
        for alert in expired:
            error = f"gave up after {alert.get('attempts', 0) + 1} attempts: {outcome.error}"
            log.error("alert %s failed: %s", alert["_id"], error)
            await self.alerts.mark_failed([alert["_id"]], lease.token, error)
        given_up = {alert["_id"] for alert in expired}
        waiting = [alert for alert in members if alert["_id"] not in given_up]
        if not waiting:
            return False, None
        if outcome.retry_after is not None:
            delay = outcome.retry_after
            self._next_send[destination.name] = now + timedelta(seconds=delay)
        else:
            attempts = int(waiting[0].get("attempts", 0))
            delay = min(self.backoff * 2**attempts, self.max_backoff)
        log.warning(
            "%s to %s not delivered (%s); retrying in %.1f s",
            what, destination.name, outcome.error, delay,
        )  # fmt: skip
        at = now + timedelta(seconds=delay)
        await self.alerts.mark_retry(
            [alert["_id"] for alert in waiting], lease.token, at, outcome.error
        )
        return False, at
