"""The ``goodwill`` command (``service.cli``) and the supervisor of ``goodwill up``."""

__all__: list[str] = []
