"""Configuration: settings from the environment and the user's watch list."""

from config.settings import Settings, get_settings, load_settings

__all__ = ["Settings", "get_settings", "load_settings"]
