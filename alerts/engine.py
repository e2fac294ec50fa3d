"""The alert engine: evaluates the watch list's rules over what the scorer wrote, into the outbox.

Data moves one way: the engine reads mentions, profiles, advocacy and roll-ups, and writes
alerts to the outbox (``store.outbox``); it never calls the scorer or Slack. Its cursors
(on ``mentions.scored_at``, ``mentions.correction.at`` and ``advocacy.tier_changed_at``)
live in MongoDB, and each pass re-reads a short overlap behind them (a batch scored a moment
earlier may be written a moment later): an alert's dedupe key makes reading a mention twice
harmless, so a restart neither raises an alert again nor misses one.

Rules (``config.alerting.AlertRuleConfig``):

* ``complaint``: a complaint from a profile of customer value >= ``min_value``, or of a
  customer tier in ``tiers``, or with reach (followers) >= ``min_reach``; no threshold set
  means every complaint; with ``max_age_hours``, only posts created that recently (so a
  back-fill of old posts raises nothing). Key ``complaint:<mention id>:<rule>``. What
  counts as a complaint is the mention's ``counted`` verdict: a post a person corrected
  to "not a complaint" before the engine read it raises nothing (one already raised
  stays raised), and a post a person marked a complaint after it was scored is read by
  the next pass (a second cursor, on ``correction.at``), under the same key, so it is
  raised once.
* ``negative_spike``: negative mentions of a brand per hour against a seasonal baseline (the
  same hour on past days, or of the week on past weeks once three weeks are known), tested
  with the Poisson tail (negative binomial when the past varies more than Poisson) over
  windows of 1, 3 and 6 hours (so a slow build-up shows), at least ``min_count`` mentions.
  One alert per episode: consecutive anomalous hours share the key
  ``spike:<brand>:<first hour>:<rule>``.
* ``tier_change``: a profile became an advocate or detractor of a brand. Key
  ``tier:<profile>|<brand>:<tier>:<tier_changed_at>:<rule>``.
* ``digest``: daily at ``at`` in ``timezone``: the previous day's volume, sentiment mix and
  change, top complaints, new advocates, top complaint themes. Key
  ``digest:<brand>:<local date>:<rule>``.
* ``emerging_theme``: a complaint theme whose last 24 hours of complaints stand out from its
  own past days (``alerts/theme_rule.py``). Key ``theme:<brand>:<theme>:<date>:<rule>``.

A rule with several destinations raises one alert per destination: the first under the
key above, each other under ``<key>@<destination>``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from alerts.stats import Baseline, baseline_of, combined
from alerts.theme_rule import emerging_themes
from config.alerting import AlertRuleConfig
from goodwill.identity import author_handle_key, identity_key
from goodwill.models import utcnow
from goodwill.retry import run_passes
from store.outbox import Outbox
from store.themes import Themes

__all__ = ["AlertEngine", "Anomaly"]

log = logging.getLogger(__name__)

Document = dict[str, Any]
_HOUR = timedelta(hours=1)
_COMPLAINTS_CURSOR = "cursor:complaints"
_CORRECTIONS_CURSOR = "cursor:corrected-complaints"
_TIERS_CURSOR = "cursor:tiers"
_MAX_EPISODE_HOURS = 48
_RECOUNT_YOUNG = timedelta(minutes=10)


def _hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _iso(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else ""


def _scored_at(doc: Mapping[str, Any]) -> datetime:
    moment: datetime = doc["scored_at"]
    return moment


def _corrected_at(doc: Mapping[str, Any]) -> datetime:
    moment: datetime = doc["correction"]["at"]
    return moment


def _engagement(doc: Mapping[str, Any]) -> int:
    return sum(v for v in (doc.get("engagement") or {}).values() if isinstance(v, int))


class Anomaly:
    """One hour judged against its baseline: the window that stood out most."""

    __slots__ = ("baseline", "count", "expected", "hour", "model", "p_value", "window")

    def __init__(
        self, hour: datetime, window: int, count: int, baseline: Baseline, p_value: float
    ) -> None:
        self.hour = hour
        self.window = window
        self.count = count
        self.baseline = baseline
        self.expected = baseline.mean
        self.p_value = p_value
        self.model = "negative binomial" if baseline.overdispersed else "Poisson"


class _History:
    """Hourly (all, negative) counts of one brand, loaded once then refreshed at the edge
    (all of it again every ``_RECOUNT_YOUNG`` while the brand's history is shorter than the
    window)."""

    def __init__(self) -> None:
        self.hours: dict[datetime, tuple[int, int]] = {}
        self.loaded_from: datetime | None = None
        self.first_seen: datetime | None = None
        self.counted_at: datetime | None = None  # when every hour was last counted

    def negative(self, hour: datetime) -> int:
        return self.hours.get(hour, (0, 0))[1]


class AlertEngine:
    """Raises alerts for the rules of the watch list. One pass: ``run_once``."""

    def __init__(
        self,
        alerts: Outbox,
        rules: Sequence[AlertRuleConfig],
        *,
        brands: Sequence[str],
        dashboard_link: str,
        overlap: timedelta = timedelta(seconds=10),
        start_lookback: timedelta = timedelta(hours=1),
        spike_every: timedelta = timedelta(seconds=60),
        clock: Callable[[], datetime] = utcnow,
        themes: Themes | None = None,
    ) -> None:
        """``themes``: the store's complaint themes, read by ``emerging_theme`` and digests."""
        self.alerts = alerts
        self.rules = list(rules)
        self.brands = list(brands)
        self.dashboard_link = dashboard_link.rstrip("/")
        self.overlap = overlap
        self.start_lookback = start_lookback
        self.spike_every = spike_every
        self.clock = clock
        self._seen: dict[str, datetime] = {}  # keys raised or known lately, by their time
        self._history: dict[str, _History] = {}
        self._last_spike_check: datetime | None = None
        self.themes = themes
        self._last_theme_check: datetime | None = None

    def _of(self, kind: str) -> list[AlertRuleConfig]:
        return [rule for rule in self.rules if rule.rule == kind]

    def _brands_of(self, rule: AlertRuleConfig) -> list[str]:
        return list(rule.brands) if rule.brands else list(self.brands)

    @staticmethod
    def _covers(rule: AlertRuleConfig, brand: str | None) -> bool:
        return not rule.brands or (
            brand is not None and brand.casefold() in {b.casefold() for b in rule.brands}
        )

    def _mention_link(self, mention_id: Any) -> str:
        return f"{self.dashboard_link}/?mention={mention_id}"

    async def _raise(
        self,
        key: str,
        rule: AlertRuleConfig,
        brand: str | None,
        payload: Document,
        now: datetime,
        authors: Sequence[str] = (),
    ) -> bool:
        """Write the alert to each of the rule's destinations; whether it was new.

        The first destination's copy has the key itself and is written last: once it is
        there, so are the others (keyed ``<key>@<destination>``), even across a crash.
        ``authors``: the author keys of a complaint's post, kept in the alert's ``about``.
        """
        self._seen[key] = now
        about = _about(payload, authors)
        first, *others = rule.targets
        for name in others:
            await self.alerts.raise_alert(
                dedupe_key=f"{key}@{name}", rule=rule.name, brand=brand, destination=name,
                payload=payload, now=now, about=about,
            )  # fmt: skip
        raised = await self.alerts.raise_alert(
            dedupe_key=key, rule=rule.name, brand=brand, destination=first,
            payload=payload, now=now, about=about,
        )  # fmt: skip
        if raised:
            log.info("alert raised: %s", key)
        return raised

    async def _new(self, keys: list[str], now: datetime) -> set[str]:
        """Which of ``keys`` are not raised yet (remembered ones are not asked for again)."""
        unknown = [key for key in keys if key not in self._seen]
        known = await self.alerts.known_keys(unknown)
        for key in known:
            self._seen[key] = now
        return {key for key in unknown if key not in known}

    def _forget(self, before: datetime) -> None:
        self._seen = {key: at for key, at in self._seen.items() if at >= before}

    async def run_once(self, now: datetime | None = None) -> int:
        """Evaluate every rule once; returns how many alerts were raised."""
        now = now or self.clock()
        raised = 0
        if self._of("complaint"):
            raised += await self._complaints(now)
        if self._of("tier_change"):
            raised += await self._tier_changes(now)
        if self._of("negative_spike") and (
            self._last_spike_check is None or now - self._last_spike_check >= self.spike_every
        ):
            self._last_spike_check = now
            raised += await self._spikes(now)
        if self._of("digest"):
            raised += await self._digests(now)
        if (
            self._of("emerging_theme")
            and self.themes is not None
            and (self._last_theme_check is None or now - self._last_theme_check >= self.spike_every)
        ):
            self._last_theme_check = now
            raised += await self._emerging_themes(now, self.themes)
        self._forget(now - max(self.overlap * 6, timedelta(hours=26)))
        return raised

    async def run_forever(self, *, interval: float = 1.0, max_backoff: float = 60.0) -> None:
        """Evaluate the rules every ``interval`` seconds; wait out database outages.

        A pass the database fails is tried again after 1 s, 2 s, 4 s ... up to
        ``max_backoff``, for as long as it takes; the next pass starts the waits over.
        """
        await run_passes(self.run_once, every=interval, log=log, max_backoff=max_backoff)

    # -- complaints ----------------------------------------------------------------------------

    async def _cursor(self, name: str, now: datetime) -> datetime:
        saved = await self.alerts.get_state(name)
        if isinstance(saved, datetime):
            return saved
        # The first start: look back a little, and remember from where, so that what is
        # scored before the next pass is not outside a window that moves with the clock.
        start = now - self.start_lookback
        await self.alerts.set_state(name, start)
        return start

    async def _complaints(self, now: datetime) -> int:
        """Complaints as scored, then posts a person marked a complaint after their scoring."""
        raised = await self._complaint_pass(
            _COMPLAINTS_CURSOR, self.alerts.complaints_scored_since, _scored_at, now
        )
        return raised + await self._complaint_pass(
            _CORRECTIONS_CURSOR, self.alerts.complaints_corrected_since, _corrected_at, now
        )

    async def _complaint_pass(
        self,
        name: str,
        read: Callable[..., Awaitable[list[Document]]],
        moment: Callable[[Document], datetime],
        now: datetime,
    ) -> int:
        """Raise the complaint rules over what ``read`` finds after the cursor ``name``."""
        rules = self._of("complaint")
        cursor = await self._cursor(name, now)
        raised = 0
        while True:
            docs = await read(cursor - self.overlap, limit=1000)
            profiles = await self.alerts.profiles(d.get("profile_id") for d in docs)
            advocacy = await self.alerts.advocacy(
                f"{d['profile_id']}|{d['brand']}" for d in docs if d.get("profile_id")
            )
            candidates: list[tuple[str, AlertRuleConfig, Document]] = []
            for doc in docs:
                profile = profiles.get(doc.get("profile_id") or "")
                for rule in rules:
                    if (
                        self._covers(rule, doc.get("brand"))
                        and _recent(rule, doc, now)
                        and _worth_it(rule, doc, profile)
                    ):
                        candidates.append((f"complaint:{doc['_id']}:{rule.name}", rule, doc))
            fresh = await self._new([key for key, _, _ in candidates], now)
            for key, rule, doc in candidates:
                if key in fresh:
                    profile = profiles.get(doc.get("profile_id") or "")
                    standing = advocacy.get(f"{doc.get('profile_id')}|{doc.get('brand')}")
                    payload = self._complaint_payload(doc, profile, standing)
                    raised += await self._raise(
                        key, rule, doc.get("brand"), payload, now, _author_keys(doc)
                    )
            latest = max((moment(d) for d in docs), default=cursor)
            if latest > cursor:
                cursor = latest
                await self.alerts.set_state(name, cursor)
            if len(docs) < 1000:
                return raised

    def _complaint_payload(
        self, doc: Document, profile: Document | None, standing: Document | None
    ) -> Document:
        author = doc.get("author") or {}
        profile = profile or {}
        name = profile.get("display_name") or author.get("display_name") or author.get("handle")
        who = {
            "name": name,
            "handle": author.get("handle"),
            "profile_id": doc.get("profile_id"),
            "customer_tier": profile.get("tier"),
            "value": profile.get("value"),
            "reach": max(int(profile.get("reach") or 0), int(author.get("followers") or 0)) or None,
            "advocacy_tier": (standing or {}).get("tier"),
            "advocacy_score": (standing or {}).get("score"),
        }
        sentiment = doc.get("sentiment") or {}
        complaint = doc.get("complaint") or {}
        brand = doc.get("brand", "")
        text = doc.get("text") or ""
        return {
            "kind": "complaint",
            "brand": brand,
            "mention_id": str(doc["_id"]),
            "source": doc.get("source"),
            "text": text[:4000],
            "url": doc.get("url") or "",
            "created_at": _iso(doc.get("created_at")),
            "sentiment": {"label": sentiment.get("label"), "score": sentiment.get("score") or 0.0},
            "complaint": {
                "score": complaint.get("score") or 0.0,
                "category": complaint.get("category"),
                "kind": complaint.get("kind"),
            },
            "who": who,
            "dashboard_url": self._mention_link(doc["_id"]),
            "summary": f"Complaint about {brand} from {name or 'an unknown author'}"
            + (f" ({who['customer_tier']})" if who["customer_tier"] else "")
            + f": {' '.join(text.split())[:140]}",
        }

    # -- tier changes ----------------------------------------------------------------------------

    async def _tier_changes(self, now: datetime) -> int:
        rules = self._of("tier_change")
        cursor = await self._cursor(_TIERS_CURSOR, now)
        raised = 0
        docs = await self.alerts.tier_changes_since(cursor - self.overlap, limit=1000)
        profiles = await self.alerts.profiles(d.get("profile_id") for d in docs)
        candidates = []
        for doc in docs:
            if doc.get("tier") == doc.get("previous_tier"):
                continue
            for rule in rules:
                if self._covers(rule, doc.get("brand")) and doc.get("tier") in rule.tiers:
                    key = f"tier:{doc['_id']}:{doc['tier']}:{_iso(doc['tier_changed_at'])}:{rule.name}"
                    candidates.append((key, rule, doc))
        fresh = await self._new([key for key, _, _ in candidates], now)
        for key, rule, doc in candidates:
            if key in fresh:
                profile = profiles.get(doc.get("profile_id") or "") or {}
                raised += await self._raise(
                    key, rule, doc.get("brand"), self._tier_payload(doc, profile), now
                )
        latest = max((d["tier_changed_at"] for d in docs), default=cursor)
        if latest > cursor:
            await self.alerts.set_state(_TIERS_CURSOR, latest)
        return raised

    def _tier_payload(self, doc: Document, profile: Document) -> Document:
        name = profile.get("display_name") or doc.get("profile_id")
        tier = doc.get("tier")
        word = {"advocate": "New advocate", "detractor": "New detractor"}.get(str(tier), "Now")
        return {
            "kind": "tier_change",
            "brand": doc.get("brand"),
            "profile_id": doc.get("profile_id"),
            "tier": tier,
            "previous_tier": doc.get("previous_tier"),
            "score": doc.get("score") or 0.0,
            "mentions": doc.get("mentions") or 0,
            "who": {
                "name": name,
                "profile_id": doc.get("profile_id"),
                "customer_tier": profile.get("tier"),
                "value": profile.get("value"),
                "reach": profile.get("reach"),
                "advocacy_tier": tier,
                "advocacy_score": doc.get("score"),
            },
            "url": doc.get("last_mention_url") or "",
            "dashboard_url": f"{self.dashboard_link}/?profile={quote(str(doc.get('profile_id')))}",
            "summary": f"{word} of {doc.get('brand')}: {name} (score {doc.get('score') or 0:+.0f})",
        }

    # -- negative spikes -------------------------------------------------------------------------

    async def _load_history(self, brand: str, now: datetime, days: int) -> _History:
        history = self._history.setdefault(brand, _History())
        current = _hour(now)
        start = current - timedelta(days=days) - timedelta(hours=_MAX_EPISODE_HOURS + 24)
        # A brand with less than the whole window of history (a fresh start, a new brand) is
        # counted afresh now and then: a back-fill that arrived after the first count, or
        # was scored after it, is its baseline.
        young = history.first_seen is None or history.first_seen > start
        stale = history.counted_at is None or now - history.counted_at >= _RECOUNT_YOUNG
        if history.loaded_from is None or history.loaded_from > start or (young and stale):
            history.hours = await self.alerts.hourly_counts(brand, start, current + _HOUR)
            history.loaded_from = start
            history.counted_at = now
        else:
            # Closed hours stay as counted, but for late scoring at the edge: recount the last 3.
            edge = current - 2 * _HOUR
            history.hours = {
                hour: counts for hour, counts in history.hours.items() if start <= hour < edge
            }
            history.hours.update(await self.alerts.hourly_counts(brand, edge, current + _HOUR))
            history.loaded_from = start
        seen = [hour for hour, (total, _) in history.hours.items() if total]
        if seen and (history.first_seen is None or min(seen) < history.first_seen):
            history.first_seen = min(seen)
        return history

    def _peers(
        self, rule: AlertRuleConfig, history: _History, hour: datetime
    ) -> tuple[list[datetime], str]:
        first = history.first_seen or hour
        weekly = rule.seasonality == "weekly" or (
            rule.seasonality == "auto" and first <= hour - timedelta(weeks=3)
        )
        if weekly:
            weeks = max(1, min(rule.baseline_days // 7, 8))
            peers = [hour - timedelta(weeks=w) for w in range(1, weeks + 1)]
            peers = [p for p in peers if p >= first]
            return peers, f"same hour of the week over {len(peers)} past weeks"
        peers = [hour - timedelta(days=d) for d in range(1, rule.baseline_days + 1)]
        peers = [p for p in peers if p >= first]
        return peers, f"same hour over {len(peers)} past days"

    def _judge(
        self, rule: AlertRuleConfig, history: _History, hour: datetime
    ) -> tuple[Anomaly | None, str]:
        """The most anomalous window ending at ``hour``, if one is anomalous."""
        best: Anomaly | None = None
        described = ""
        threshold = rule.alpha / len(rule.windows)  # several windows: Bonferroni
        for window in rule.windows:
            hours = [hour - timedelta(hours=i) for i in range(window)]
            baselines = []
            for each in hours:
                peers, described_here = self._peers(rule, history, each)
                enough = rule.min_history_days if described_here.endswith("days") else 1
                if len(peers) < enough:
                    return None, ""  # too little history to know what is normal
                if each == hour:
                    described = described_here
                baselines.append(baseline_of([history.negative(p) for p in peers]))
            count = sum(history.negative(each) for each in hours)
            if count < rule.min_count:
                continue
            baseline = combined(baselines)
            p_value = baseline.tail(count)
            if p_value < threshold and (best is None or p_value < best.p_value):
                best = Anomaly(hour, window, count, baseline, p_value)
        return best, described

    async def _spikes(self, now: datetime) -> int:
        raised = 0
        current = _hour(now)
        for rule in self._of("negative_spike"):
            days = max(rule.baseline_days, 28 if rule.seasonality != "daily" else 0)
            for brand in self._brands_of(rule):
                history = await self._load_history(brand, now, days)
                for hour in (current, current - _HOUR):
                    anomaly, described = self._judge(rule, history, hour)
                    if anomaly is None:
                        continue
                    start = hour
                    while current - start < timedelta(hours=_MAX_EPISODE_HOURS):
                        before, _ = self._judge(rule, history, start - _HOUR)
                        if before is None:
                            break
                        start -= _HOUR
                    key = f"spike:{brand}:{_iso(start)}:{rule.name}"
                    if not await self._new([key], now):
                        break
                    payload = await self._spike_payload(brand, anomaly, described, start, now)
                    raised += await self._raise(key, rule, brand, payload, now)
                    break
        return raised

    async def _spike_payload(
        self, brand: str, anomaly: Anomaly, baseline: str, start: datetime, now: datetime
    ) -> Document:
        window_start = anomaly.hour - timedelta(hours=anomaly.window - 1)
        posts = await self.alerts.negative_mentions(brand, window_start, now + _HOUR)
        most_negative = sorted(
            posts, key=lambda d: -float((d.get("sentiment") or {}).get("score") or 0)
        )[:3]
        most_engaged = sorted(posts, key=lambda d: -_engagement(d))
        top = most_negative + [d for d in most_engaged if d not in most_negative][:2]
        return {
            "kind": "negative_spike",
            "brand": brand,
            "count": anomaly.count,
            "expected": round(anomaly.expected, 2),
            "window": anomaly.window,
            "window_start": _iso(window_start),
            "episode_start": _iso(start),
            "p_value": anomaly.p_value,
            "model": anomaly.model,
            "baseline": baseline,
            "top_posts": [
                {
                    "mention_id": str(d["_id"]),
                    "text": (d.get("text") or "")[:500],
                    "url": d.get("url") or "",
                    "score": float((d.get("sentiment") or {}).get("score") or 0),
                    "engagement": _engagement(d),
                    "dashboard_url": self._mention_link(d["_id"]),
                }
                for d in top
            ],
            "dashboard_url": f"{self.dashboard_link}/?brand={quote(brand)}",
            "summary": f"Negative spike for {brand}: {anomaly.count} negative mentions in "
            f"{anomaly.window} h against {anomaly.expected:.1f} expected",
        }

    async def _emerging_themes(self, now: datetime, themes: Themes) -> int:
        """One alert per theme whose complaints of the last 24 h stand out (``alerts/theme_rule.py``)."""
        raised = 0
        for rule in self._of("emerging_theme"):
            for brand in self._brands_of(rule):
                found = await emerging_themes(
                    themes, rule, brand, now, dashboard_link=self.dashboard_link
                )
                fresh = await self._new([theme.key for theme in found], now)
                for theme in found:
                    if theme.key in fresh:
                        raised += await self._raise(theme.key, rule, brand, theme.payload, now)
        return raised

    # -- digests ---------------------------------------------------------------------------------

    async def _digests(self, now: datetime) -> int:
        raised = 0
        for rule in self._of("digest"):
            local = now.astimezone(ZoneInfo(rule.timezone))
            if local.time().replace(tzinfo=None) < rule.digest_time:
                continue
            for brand in self._brands_of(rule):
                key = f"digest:{brand}:{local.date().isoformat()}:{rule.name}"
                if not await self._new([key], now):
                    continue
                payload = await self._digest_payload(rule, brand, local)
                raised += await self._raise(key, rule, brand, payload, now)
        return raised

    async def _digest_payload(self, rule: AlertRuleConfig, brand: str, local: datetime) -> Document:
        # Roll-ups count per UTC day: the digest of local date D covers the day before D.
        yesterday = local.date() - timedelta(days=1)
        day = datetime(yesterday.year, yesterday.month, yesterday.day, tzinfo=UTC)
        totals = await self.alerts.rollup_day(brand, day)
        previous = await self.alerts.rollup_day(brand, day - timedelta(days=1))
        complaints = await self.alerts.complaints_between(brand, day, day + timedelta(days=1))
        complaints.sort(key=lambda d: -float((d.get("complaint") or {}).get("score") or 0))
        changes = await self.alerts.tier_changes_between(
            brand, "advocate", day, day + timedelta(days=1)
        )
        profiles = await self.alerts.profiles(d.get("profile_id") for d in changes)
        themes = (
            await self.themes.summary(brand, day, day + timedelta(days=1), posts=0)
            if self.themes is not None
            else []
        )
        negative = totals.get("negative", 0)
        return {
            "kind": "digest",
            "brand": brand,
            "day": yesterday.isoformat(),
            "totals": totals,
            "previous": previous,
            "top_complaints": [
                {
                    "mention_id": str(d["_id"]),
                    "text": (d.get("text") or "")[:500],
                    "score": float((d.get("complaint") or {}).get("score") or 0),
                    "dashboard_url": self._mention_link(d["_id"]),
                }
                for d in complaints[: rule.top]
            ],
            "new_advocates": [
                {
                    "profile_id": d.get("profile_id"),
                    "name": (profiles.get(d.get("profile_id") or "") or {}).get("display_name"),
                    "score": float(d.get("score") or 0),
                }
                for d in changes
            ],
            "top_themes": [
                {key: t[key] for key in ("theme_id", "name", "count", "previous", "complaints")}
                for t in themes[: rule.top]
                if t["count"]
            ],
            "dashboard_url": f"{self.dashboard_link}/?brand={quote(brand)}",
            "summary": f"Daily digest for {brand}, {yesterday.isoformat()}: "
            f"{totals.get('total', 0)} mentions, {negative} negative, "
            f"{totals.get('complaints', 0)} complaints"
            + (f", {totals['unscored']} not scored (language)" if totals.get("unscored") else ""),
        }


def _about(payload: Document, authors: Sequence[str]) -> Document:
    """Whom an alert is about, by id: the mentions, profiles and author keys its payload names.

    Kept beside the payload (``about``) so that a person's erasure finds their alerts by
    id, never by searching the text for their name.
    """
    listed = [
        *(payload.get("top_posts") or ()),
        *(payload.get("top_complaints") or ()),
        *(payload.get("new_advocates") or ()),
    ]
    mentions = [payload.get("mention_id"), *(item.get("mention_id") for item in listed)]
    profiles = [
        payload.get("profile_id"),
        (payload.get("who") or {}).get("profile_id"),
        *(item.get("profile_id") for item in listed),
    ]
    return {
        "mentions": sorted({str(m) for m in mentions if m}),
        "profiles": sorted({str(p) for p in profiles if p}),
        "authors": sorted(set(authors)),
    }


def _author_keys(doc: Mapping[str, Any]) -> list[str]:
    """The identity and handle keys of a mention's author (as an erasure hashes them)."""
    source = str(doc.get("source") or "")
    author = doc.get("author") or {}
    keys = {doc.get("author_key"), identity_key(source, author), author_handle_key(source, author)}
    return sorted(str(key) for key in keys if key)


def _recent(rule: AlertRuleConfig, doc: Mapping[str, Any], now: datetime) -> bool:
    """Whether the post is young enough for the rule (``max_age_hours``; a back-fill is not)."""
    created = doc.get("created_at")
    if rule.max_age_hours is None or not isinstance(created, datetime):
        return True
    return now - created <= timedelta(hours=rule.max_age_hours)


def _worth_it(rule: AlertRuleConfig, doc: Mapping[str, Any], profile: Document | None) -> bool:
    """Whether a complaint meets the rule: value, customer tier or reach (any one)."""
    if rule.min_value is None and not rule.tiers and rule.min_reach is None:
        return True
    profile = profile or {}
    value = profile.get("value")
    if rule.min_value is not None and isinstance(value, int | float) and value >= rule.min_value:
        return True
    tier = profile.get("tier")
    if (
        rule.tiers
        and isinstance(tier, str)
        and tier.casefold() in {t.casefold() for t in rule.tiers}
    ):
        return True
    if rule.min_reach is not None:
        followers = (doc.get("author") or {}).get("followers") or 0
        reach = max(int(profile.get("reach") or 0), int(followers))
        if reach >= rule.min_reach:
            return True
    return False
