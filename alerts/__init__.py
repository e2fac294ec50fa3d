"""Alerts: rules over what the scorer wrote, an outbox in MongoDB, delivery to Slack."""

from alerts.deliver import Deliverer, Outcome, post
from alerts.engine import AlertEngine, Anomaly
from alerts.messages import LIMITS, render, render_group, truncate, validate_message
from alerts.stats import Baseline, baseline_of, combined, negbin_sf, poisson_sf

__all__ = [
    "LIMITS",
    "AlertEngine",
    "Anomaly",
    "Baseline",
    "Deliverer",
    "Outcome",
    "baseline_of",
    "combined",
    "negbin_sf",
    "poisson_sf",
    "post",
    "render",
    "render_group",
    "truncate",
    "validate_message",
]
