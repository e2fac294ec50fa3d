"""``goodwill profiles import|export-data|erase`` and ``goodwill export advocates``."""

from __future__ import annotations

from service.profiles_cli import export_app, profiles_app

__all__ = ["export_app", "profiles_app"]
