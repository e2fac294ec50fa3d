"""Goodwill's shared core: domain models, the MongoDB store, errors, the embedded database."""

__all__: list[str] = []
