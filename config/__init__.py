"""Configuration: settings from the environment and the user's watch list.

Modules: ``settings`` (the one ``Settings``), ``watchlist`` (the watch list, read and
checked on load), ``query`` (the brand query language of the watch list), ``sources``
(the source types a watch list may name, as data) and ``alerting`` (its alert rules and
Slack destinations). ``config`` imports no stage: the collector builds its jobs from a
watch list (``collector.jobs``), never the other way round.

Only the settings are exported here, so that importing them does not also parse the
watch list's modules (pydantic models, the query parser, the corpus' brand names).
"""

from config.settings import Settings, get_settings, load_settings

__all__ = ["Settings", "get_settings", "load_settings"]
