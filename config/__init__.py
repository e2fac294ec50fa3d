"""Configuration: settings from the environment and the user's watch list.

Only the settings are exported here: ``config.watchlist`` builds collection jobs and
so imports ``collector``; importing it from this package would make every importer
of the settings (the dashboard among them) load the collector too.
"""

from config.settings import Settings, get_settings, load_settings

__all__ = ["Settings", "get_settings", "load_settings"]
