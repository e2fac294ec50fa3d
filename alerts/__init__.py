"""Alerts: rules over what the scorer wrote, an outbox in MongoDB, delivery to Slack."""
